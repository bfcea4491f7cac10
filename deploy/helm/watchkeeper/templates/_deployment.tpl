{{/* The ConfigMap, Deployment, Service and optional PodDisruptionBudget and
     NetworkPolicy of one exporter run as a Deployment. Call with a dict:
       root       the top context ($)
       component  host, blackbox, db, tls, backup or incident
       suffix     the object name suffix (the component, or "blackbox-1" for a shard)
       shard      the shard number as a string, or "" when not sharded
       v          the component's values
       args       extra container args (list of strings)
       volumes    extra pod volumes (list), mounts: their container mounts (list)
       sysctls    pod sysctls (list)
       strategy   the Deployment strategy type (RollingUpdate or Recreate) */}}
{{- define "watchkeeper.deployment" -}}
{{- $root := .root -}}
{{- $v := .v -}}
{{- $name := include "watchkeeper.componentName" (dict "root" $root "suffix" .suffix) -}}
{{- $configName := include "watchkeeper.componentName" (dict "root" $root "suffix" .component) -}}
{{- $sel := dict "root" $root "component" .component "shard" .shard -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "watchkeeper.labels" $root | nindent 4 }}
    {{- include "watchkeeper.componentLabels" $sel | nindent 4 }}
spec:
  replicas: {{ $v.replicas }}
  {{- if eq .strategy "Recreate" }}
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "watchkeeper.podLabels" $sel | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "watchkeeper.labels" $root | nindent 8 }}
        {{- include "watchkeeper.componentLabels" $sel | nindent 8 }}
      annotations:
        # Roll the pods when the configuration changes (the exporter also
        # reloads on SIGHUP, but a ConfigMap update reaches the file late).
        checksum/config: {{ toYaml $v.config | sha256sum }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "watchkeeper.serviceAccountName" $root }}
      automountServiceAccountToken: false
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
        {{- with .sysctls }}
        sysctls:
          {{- toYaml . | nindent 10 }}
        {{- end }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "watchkeeper.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: ["/usr/bin/watchkeeper-{{ .component }}"]
          args:
            {{- include "watchkeeper.commonArgs" (dict "root" $root "port" $v.port) | nindent 12 }}
            - --config.file=/etc/watchkeeper/{{ .component }}/{{ .component }}.yml
            {{- with .args }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $v.extraArgs }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with (include "watchkeeper.secretEnv" $v | trim) }}{{ . | nindent 10 }}{{ end }}
          ports:
            - name: metrics
              containerPort: {{ $v.port }}
              protocol: TCP
          {{- include "watchkeeper.probes" $root | trim | nindent 10 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/watchkeeper/{{ .component }}
              readOnly: true
            {{- with .mounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with (include "watchkeeper.secretMounts" $v | trim) }}{{ . | nindent 12 }}{{ end }}
            {{- with (include "watchkeeper.webConfigMount" $root | trim) }}{{ . | nindent 12 }}{{ end }}
      volumes:
        - name: config
          configMap:
            name: {{ $configName }}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with (include "watchkeeper.secretVolumes" $v | trim) }}{{ . | nindent 8 }}{{ end }}
        {{- with (include "watchkeeper.webConfigVolume" $root | trim) }}{{ . | nindent 8 }}{{ end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "watchkeeper.labels" $root | nindent 4 }}
    {{- include "watchkeeper.componentLabels" $sel | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "watchkeeper.podLabels" $sel | nindent 4 }}
  ports:
    - name: metrics
      port: {{ $v.port }}
      targetPort: metrics
      protocol: TCP
{{- if $v.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "watchkeeper.labels" $root | nindent 4 }}
    {{- include "watchkeeper.componentLabels" $sel | nindent 4 }}
spec:
  maxUnavailable: {{ $v.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "watchkeeper.podLabels" $sel | nindent 6 }}
{{- end }}
{{- if $root.Values.networkPolicy.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "watchkeeper.labels" $root | nindent 4 }}
    {{- include "watchkeeper.componentLabels" $sel | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "watchkeeper.podLabels" $sel | nindent 6 }}
  policyTypes:
    - Ingress
    {{- if $root.Values.networkPolicy.egress }}
    - Egress
    {{- end }}
  ingress:
    # Only the metrics port, from the scrapers (any source when "from" is empty).
    - ports:
        - port: metrics
          protocol: TCP
      {{- with $root.Values.networkPolicy.from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- with $root.Values.networkPolicy.egress }}
  egress:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* A component's configuration file as a ConfigMap. */}}
{{- define "watchkeeper.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "watchkeeper.componentName" (dict "root" .root "suffix" .component) }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "watchkeeper.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
data:
  {{ .component }}.yml: |
    {{- toYaml .v.config | nindent 4 }}
{{- end -}}

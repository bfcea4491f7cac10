{{/* The chart name, overridable. */}}
{{- define "watchkeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-qualified name, at most 63 characters. */}}
{{- define "watchkeeper.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "watchkeeper.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "watchkeeper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one exporter; call with (dict "root" $ "component" "host"). */}}
{{- define "watchkeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "watchkeeper.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector labels plus the shard label of a sharded component; call with
     (dict "root" $ "component" "blackbox" "shard" "0"), shard "" when not sharded. */}}
{{- define "watchkeeper.podLabels" -}}
{{ include "watchkeeper.selectorLabels" . }}
{{- if .shard }}
watchkeeper.io/shard: {{ .shard | quote }}
{{- end }}
{{- end -}}

{{/* The component (and shard) labels added to watchkeeper.labels. */}}
{{- define "watchkeeper.componentLabels" -}}
app.kubernetes.io/component: {{ .component }}
{{- if .shard }}
watchkeeper.io/shard: {{ .shard | quote }}
{{- end }}
{{- end -}}

{{/* The container image. */}}
{{- define "watchkeeper.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Flags every exporter takes. */}}
{{- define "watchkeeper.commonArgs" -}}
- --log.level={{ .root.Values.logLevel }}
- --log.format={{ .root.Values.logFormat }}
- --web.listen-address=:{{ .port }}
{{- if .root.Values.webConfig.existingSecret }}
- --web.config.file=/etc/watchkeeper/web/web-config.yml
{{- end }}
{{- end -}}

{{/* Health probes. With a web config (TLS, basic auth) the kubelet cannot
     authenticate, so it only checks that the port accepts connections. */}}
{{- define "watchkeeper.probes" -}}
{{- if .Values.webConfig.existingSecret }}
livenessProbe:
  tcpSocket:
    port: metrics
  periodSeconds: 30
readinessProbe:
  tcpSocket:
    port: metrics
  periodSeconds: 10
{{- else }}
livenessProbe:
  httpGet:
    path: /-/healthy
    port: metrics
  periodSeconds: 30
  timeoutSeconds: 5
readinessProbe:
  httpGet:
    path: /-/ready
    port: metrics
  periodSeconds: 10
  timeoutSeconds: 5
{{- end }}
{{- end -}}

{{/* The web config volume mount and volume, when configured. */}}
{{- define "watchkeeper.webConfigMount" -}}
{{- if .Values.webConfig.existingSecret }}
- name: web-config
  mountPath: /etc/watchkeeper/web
  readOnly: true
{{- end }}
{{- end -}}
{{- define "watchkeeper.webConfigVolume" -}}
{{- if .Values.webConfig.existingSecret }}
- name: web-config
  secret:
    secretName: {{ .Values.webConfig.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* "<fullname>-<suffix>" in at most 63 characters: the release part is cut,
     never the suffix, so every object of a component keeps its own name.
     Call with (dict "root" $ "suffix" "blackbox"). */}}
{{- define "watchkeeper.componentName" -}}
{{- $max := int (sub 62 (len .suffix)) -}}
{{- printf "%s-%s" (include "watchkeeper.fullname" .root | trunc $max | trimSuffix "-") .suffix -}}
{{- end -}}

{{/* The ServiceAccount pods run as. */}}
{{- define "watchkeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "watchkeeper.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Container env, envFrom and Secret file mounts of one component (values
     v): secrets come from existing Secrets, never from values. */}}
{{- define "watchkeeper.secretEnv" -}}
{{- with .env }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
{{- define "watchkeeper.secretMounts" -}}
{{- range .secretMounts }}
- name: secret-{{ .name }}
  mountPath: {{ .mountPath }}
  readOnly: true
{{- end }}
{{- with .extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}
{{- define "watchkeeper.secretVolumes" -}}
{{- range .secretMounts }}
- name: secret-{{ .name }}
  secret:
    secretName: {{ .secretName }}
    defaultMode: {{ .defaultMode | default 288 }}
    {{- with .items }}
    items:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- with .extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A Prometheus duration ("1m30s") in milliseconds. */}}
{{- define "watchkeeper.durationMs" -}}
{{- $units := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000 "w" 604800000 "y" 31536000000 -}}
{{- $total := 0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" (toString .) -1 -}}
{{- $unit := regexFind "(ms|s|m|h|d|w|y)$" . -}}
{{- $total = add $total (mul (int64 (trimSuffix $unit .)) (index $units $unit)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* Fails when a scrape timeout is longer than its interval (Prometheus
     refuses such a scrape config). */}}
{{- define "watchkeeper.checkTimeout" -}}
{{- if gt (int64 (include "watchkeeper.durationMs" .timeout)) (int64 (include "watchkeeper.durationMs" .interval)) -}}
{{- fail (printf "%s: %s is longer than the interval %s" .name .timeout .interval) -}}
{{- end -}}
{{- end -}}

{{/* Contradictions between values the schema cannot see: rendering fails
     with a message naming the value. Included from validate.yaml. */}}
{{- define "watchkeeper.validate" -}}
{{- $v := .Values -}}
{{- range $i, $t := $v.db.config.targets }}
{{- if hasKey $t "password" }}
{{- fail (printf "db.config.targets[%d] (%s): inline passwords are not accepted; use password_file with db.passwordsSecret or db.secretMounts, or password_env with db.env" $i $t.name) }}
{{- end }}
{{- if and (hasKey $t "password_env") $v.db.enabled }}
{{- $found := false }}
{{- range $v.db.env }}{{ if eq .name $t.password_env }}{{ $found = true }}{{ end }}{{ end }}
{{- if and (not $found) (empty $v.db.envFrom) }}
{{- fail (printf "db.config.targets[%d] (%s): password_env %s is not set by db.env or db.envFrom" $i $t.name $t.password_env) }}
{{- end }}
{{- end }}
{{- end }}
{{- if gt (int $v.incident.replicas) 1 }}
{{- fail (printf "incident.replicas: %d, but the incident exporter keeps its state in one SQLite file and must run as a single replica (Alertmanager HA is covered by listing every Alertmanager in incident.config.alertmanagers)" (int $v.incident.replicas)) }}
{{- end }}
{{- if and $v.blackbox.probes.enabled (not $v.blackbox.enabled) }}
{{- fail "blackbox.probes.enabled is true but blackbox.enabled is false: the Probe resources would point at no exporter" }}
{{- end }}
{{- if and (gt (int $v.blackbox.sharding.shards) 1) (not $v.blackbox.probes.enabled) }}
{{- fail (printf "blackbox.sharding.shards: %d needs blackbox.probes.enabled (the Probe resources carry the hashmod relabelling)" (int $v.blackbox.sharding.shards)) }}
{{- end }}
{{- include "watchkeeper.checkTimeout" (dict "name" "serviceMonitor.scrapeTimeout" "timeout" $v.serviceMonitor.scrapeTimeout "interval" $v.serviceMonitor.interval) }}
{{- $p := $v.blackbox.probes }}
{{- include "watchkeeper.checkTimeout" (dict "name" "blackbox.probes.scrapeTimeout" "timeout" $p.scrapeTimeout "interval" $p.interval) }}
{{- range $i, $t := $p.targets }}
{{- include "watchkeeper.checkTimeout" (dict "name" (printf "blackbox.probes.targets[%d] (%s) scrapeTimeout" $i $t.name) "timeout" ($t.scrapeTimeout | default $p.scrapeTimeout) "interval" ($t.interval | default $p.interval)) }}
{{- end }}
{{- $names := dict }}
{{- range $i, $t := $v.blackbox.probes.targets }}
{{- if not (hasKey $v.blackbox.config.modules $t.module) }}
{{- fail (printf "blackbox.probes.targets[%d] (%s): module %q is not defined in blackbox.config.modules" $i $t.name $t.module) }}
{{- end }}
{{- if hasKey $names $t.name }}
{{- fail (printf "blackbox.probes.targets[%d]: name %q is used twice (it names the Probe and the job)" $i $t.name) }}
{{- end }}
{{- $_ := set $names $t.name true }}
{{- end }}
{{- if and (or $v.serviceMonitor.tlsConfig $v.serviceMonitor.basicAuth) (not $v.webConfig.existingSecret) }}
{{- fail "serviceMonitor.tlsConfig/basicAuth are set but webConfig.existingSecret is empty: the exporters serve plain HTTP without authentication" }}
{{- end }}
{{- range $c := list "blackbox" "db" "tls" "backup" "incident" }}
{{- $cv := index $v $c }}
{{- if and $cv.enabled $cv.podDisruptionBudget.enabled (le (int $cv.replicas) 1) }}
{{- fail (printf "%s.podDisruptionBudget.enabled with %s.replicas: %d would block every node drain; raise %s.replicas or disable the budget" $c $c (int $cv.replicas) $c) }}
{{- end }}
{{- end }}
{{- if and $v.host.enabled $v.host.textfileDirectory (not (hasPrefix "/" $v.host.textfileDirectory)) }}
{{- fail (printf "host.textfileDirectory: %q must be an absolute host path" $v.host.textfileDirectory) }}
{{- end }}
{{- end -}}

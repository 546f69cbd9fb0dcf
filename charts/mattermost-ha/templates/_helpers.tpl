{{/* Every resource is named after the release; the deployer installs it as "mattermost". */}}
{{- define "mm.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "mm.selectorLabels" -}}
app.kubernetes.io/name: mattermost
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mm.labels" -}}
{{ include "mm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/part-of: mattermost-ha
app.kubernetes.io/managed-by: deployer
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* registry/repository:tag@digest; the schema has already required every part. */}}
{{- define "mm.image" -}}
{{- printf "%s/%s:%s@%s" .registry .repository .tag .digest -}}
{{- end -}}

{{- define "mm.dbCluster" -}}
{{- printf "%s-db" (include "mm.fullname" .) -}}
{{- end -}}

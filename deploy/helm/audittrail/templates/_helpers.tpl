{{- define "audittrail.name" -}}{{ .Chart.Name }}{{- end -}}
{{- define "audittrail.fullname" -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "audittrail.labels" -}}
app.kubernetes.io/name: {{ include "audittrail.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "audittrail.selector" -}}
app.kubernetes.io/name: {{ include "audittrail.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The release's base name: "cloudtty" unless overridden (at most 52 characters, so that
suffixes such as "-operator" keep names within 63). */}}
{{- define "cloudtty.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cloudtty.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The operator's Deployment, ServiceAccount, ClusterRole and bindings. */}}
{{- define "cloudtty.operatorName" -}}
{{- printf "%s-operator" (include "cloudtty.fullname" .) -}}
{{- end -}}

{{- define "cloudtty.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cloudtty.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object of the chart. Never app.kubernetes.io/managed-by=cloudtty: that
marks what the operator itself makes. */}}
{{- define "cloudtty.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cloudtty.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cloudtty.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudtty.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cloudtty.operatorSelectorLabels" -}}
{{ include "cloudtty.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "cloudtty.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Namespaces whose pools are filled at start: worker.namespaces plus those with a pool size. */}}
{{- define "cloudtty.workerNamespaces" -}}
{{- concat .Values.worker.namespaces (keys .Values.pool.namespaces) | uniq | sortAlpha | toJson -}}
{{- end -}}

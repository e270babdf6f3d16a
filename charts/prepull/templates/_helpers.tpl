{{/* Chart name, overridable. */}}
{{- define "prepull.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the prefix of every resource name. Truncated to 52 so that suffixes such as
"-selfsigned" keep names within 63 characters.
*/}}
{{- define "prepull.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "prepull.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that never change for a release: the Deployment selector uses them. */}}
{{- define "prepull.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prepull.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "prepull.labels" -}}
helm.sh/chart: {{ include "prepull.chart" . }}
{{ include "prepull.selectorLabels" . }}
app.kubernetes.io/part-of: prepull
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels of the cert-manager resources. They leave out the two Helm-specific labels so that
certs/cert-manager.yaml, the same resources for installs without Helm, can be identical.
*/}}
{{- define "prepull.certLabels" -}}
{{ include "prepull.selectorLabels" . }}
app.kubernetes.io/part-of: prepull
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{- define "prepull.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "prepull.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The prepull image reference; a digest wins over a tag. */}}
{{- define "prepull.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the serving certificate. */}}
{{- define "prepull.tlsSecretName" -}}
{{- if .Values.tls.certManager.enabled }}
{{- default (printf "%s-tls" (include "prepull.fullname" .)) .Values.tls.secretName }}
{{- else }}
{{- required "tls.secretName is required when tls.certManager.enabled is false" .Values.tls.secretName }}
{{- end }}
{{- end }}

{{/* Names of the cert-manager resources. */}}
{{- define "prepull.servingCertName" -}}
{{- printf "%s-serving" (include "prepull.fullname" .) }}
{{- end }}
{{- define "prepull.caName" -}}
{{- printf "%s-ca" (include "prepull.fullname" .) }}
{{- end }}
{{- define "prepull.selfSignedIssuerName" -}}
{{- printf "%s-selfsigned" (include "prepull.fullname" .) }}
{{- end }}

{{/* The Service's DNS name, which the serving certificate must carry. */}}
{{- define "prepull.serviceHost" -}}
{{- printf "%s.%s.svc" (include "prepull.fullname" .) .Release.Namespace }}
{{- end }}

{{/* The PriorityClass the pre-pull DaemonSets use ("" for none). */}}
{{- define "prepull.daemonSetPriorityClassName" -}}
{{- if .Values.reconciler.priorityClass.create }}
{{- default (printf "%s-daemonset" (include "prepull.fullname" .)) .Values.reconciler.priorityClass.name }}
{{- else }}
{{- .Values.reconciler.priorityClass.name }}
{{- end }}
{{- end }}

{{/*
Namespaces prepull never handles: those files/webhook.json always excludes, the release's own
namespace (prepull's DaemonSets live there), and the user's extra exclusions.
*/}}
{{- define "prepull.excludedNamespaces" -}}
{{- $settings := .Files.Get "files/webhook.json" | fromJson }}
{{- $all := concat $settings.alwaysExcludedNamespaces (list .Release.Namespace) .Values.webhook.excludedNamespaces .Values.reconciler.excludedNamespaces }}
{{- toJson (uniq $all) }}
{{- end }}

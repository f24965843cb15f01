{{- define "bosun.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; the component (api or worker) is passed as .component. */}}
{{- define "bosun.labels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/component: {{ .component }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "bosun.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bosun.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "bosun.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret.existingSecret }}
      key: {{ .secret.key }}
{{- end -}}

{{/* The environment both processes share: Temporal (TEMPORAL_*), PostgreSQL, encryption, plain extras. */}}
{{- define "bosun.commonEnv" -}}
{{- $tls := .Values.temporal.tls -}}
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is required" .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: TEMPORAL_TASK_QUEUE
  value: {{ .Values.temporal.taskQueue | quote }}
{{- if .Values.temporal.apiKey.existingSecret }}
{{ include "bosun.secretEnv" (dict "name" "TEMPORAL_API_KEY" "secret" .Values.temporal.apiKey) }}
{{- end }}
{{- if $tls.enabled }}
- name: TEMPORAL_TLS
  value: "true"
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/bosun/temporal-tls/{{ $tls.clientCertKey }}
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/bosun/temporal-tls/{{ $tls.clientKeyKey }}
{{- if $tls.serverCaKey }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /etc/bosun/temporal-tls/{{ $tls.serverCaKey }}
{{- end }}
{{- if $tls.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ $tls.serverName | quote }}
{{- end }}
{{- end }}
{{ include "bosun.secretEnv" (dict "name" "DATABASE_URL" "secret" (set (deepCopy .Values.database) "existingSecret" (required "database.existingSecret is required" .Values.database.existingSecret))) }}
{{- if .Values.encryption.existingSecret }}
{{ include "bosun.secretEnv" (dict "name" "BOSUN_ENCRYPTION_KEYS" "secret" .Values.encryption) }}
{{- if .Values.encryption.keyId }}
- name: BOSUN_ENCRYPTION_KEY_ID
  value: {{ .Values.encryption.keyId | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "bosun.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.temporal.tls.enabled }}
- name: temporal-tls
  mountPath: /etc/bosun/temporal-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "bosun.volumes" -}}
- name: tmp
  emptyDir: {}
{{- if .Values.temporal.tls.enabled }}
- name: temporal-tls
  secret:
    secretName: {{ required "temporal.tls.existingSecret is required when temporal.tls.enabled" .Values.temporal.tls.existingSecret }}
{{- end }}
{{- end -}}

{{/* Pod-level settings both Deployments share; .config is the api or worker values. */}}
{{- define "bosun.podCommon" -}}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ .config.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .config.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .config.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .config.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "bosun.volumes" .root | nindent 2 }}
{{- end -}}

# Logs, alerts and metrics: a CloudWatch log group per service (KMS, retention), an SNS
# topic for alerts (e-mail; CloudWatch alarms and Prometheus' alert manager publish to
# it), and an Amazon Managed Service for Prometheus workspace that receives every task's
# /metrics (an ADOT collector beside each task) and evaluates deploy/prometheus/rules.yml,
# the rules `promtool test rules` checks in CI.
variable "name" {
  description = "Name prefix."
  type        = string
}

variable "alert_email" {
  description = "Address subscribed to the alerts topic."
  type        = string
}

variable "log_retention_days" {
  description = "Log retention."
  type        = number
}

variable "services" {
  description = "Services that get a log group."
  type        = list(string)
}

variable "rules_file" {
  description = "Prometheus alert rules (YAML)."
  type        = string
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

module "key" {
  source = "../kms_key"
  name   = "${var.name}-monitoring"
  service_principals = ["logs.${data.aws_region.current.name}.amazonaws.com", "sns.amazonaws.com",
  "cloudwatch.amazonaws.com", "aps.amazonaws.com"]
}

resource "aws_cloudwatch_log_group" "service" {
  for_each          = toset(var.services)
  name              = "/wikistream/${var.name}/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  kms_master_key_id = module.key.arn
}

resource "aws_sns_topic_subscription" "email" {
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

data "aws_iam_policy_document" "alerts" {
  statement {
    sid       = "AlarmsAndAlertManagerPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "aps.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}

resource "aws_prometheus_workspace" "this" {
  alias       = var.name
  kms_key_arn = module.key.arn
  logging_configuration {
    log_group_arn = "${aws_cloudwatch_log_group.prometheus.arn}:*"
  }
}

resource "aws_cloudwatch_log_group" "prometheus" {
  name              = "/wikistream/${var.name}/prometheus"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn
}

resource "aws_prometheus_rule_group_namespace" "wikistream" {
  name         = "wikistream"
  workspace_id = aws_prometheus_workspace.this.id
  data         = file(var.rules_file)
}

resource "aws_prometheus_alert_manager_definition" "this" {
  workspace_id = aws_prometheus_workspace.this.id
  definition   = <<-YAML
    alertmanager_config: |
      route:
        receiver: sns
        group_by: [alertname, table, layer, component]
        repeat_interval: 1h
      receivers:
        - name: sns
          sns_configs:
            - topic_arn: ${aws_sns_topic.alerts.arn}
              sigv4:
                region: ${data.aws_region.current.name}
              subject: "WikiStream {{ .CommonLabels.alertname }}"
  YAML
}

output "log_group_names" {
  description = "Log group per service."
  value       = { for service, group in aws_cloudwatch_log_group.service : service => group.name }
}

output "log_group_arns" {
  description = "Log group ARN per service."
  value       = { for service, group in aws_cloudwatch_log_group.service : service => group.arn }
}

output "alerts_topic_arn" {
  description = "The alerts topic."
  value       = aws_sns_topic.alerts.arn
}

output "prometheus_workspace_arn" {
  description = "The managed Prometheus workspace."
  value       = aws_prometheus_workspace.this.arn
}

output "prometheus_remote_write_url" {
  description = "Where the collectors remote-write."
  value       = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
}

output "kms_key_arn" {
  description = "The key logs and alerts are encrypted with."
  value       = module.key.arn
}

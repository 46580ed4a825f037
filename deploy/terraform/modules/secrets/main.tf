# The secrets WikiStream reads (their values are put by an operator, never in Terraform
# state): the User-Agent contact for Wikimedia, the SMTP password, the alert webhook URL,
# and the dashboard's admin token. Tasks get them as environment variables from ECS.
variable "name" {
  description = "Name prefix."
  type        = string
}

locals {
  secrets = {
    user_agent  = "User-Agent with a contact address, sent to stream.wikimedia.org"
    smtp        = "SMTP password of the alert e-mail channel"
    webhook_url = "Alert webhook URL (it embeds a token)"
    admin_token = "Bearer token enabling the dashboard's release endpoint"
  }
}

module "key" {
  source = "../kms_key"
  name   = "${var.name}-secrets"
}

resource "aws_secretsmanager_secret" "this" {
  # checkov:skip=CKV2_AWS_57: these are credentials of outside services (SMTP, webhook, Wikimedia contact); they are rotated by operators (docs/operations.md#rotate-secrets), not by a Lambda
  for_each                = local.secrets
  name                    = "${var.name}/${each.key}"
  description             = each.value
  kms_key_id              = module.key.arn
  recovery_window_in_days = 7
}

output "secret_arns" {
  description = "Secret ARN per name."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.arn }
}

output "secret_names" {
  description = "Secret names to fill with `aws secretsmanager put-secret-value`."
  value       = [for secret in aws_secretsmanager_secret.this : secret.name]
}

output "kms_key_arn" {
  description = "The key the secrets are encrypted with."
  value       = module.key.arn
}

output "dashboard_url" {
  description = "The dashboard (internal load balancer; reach it over VPN or a bastion)."
  value       = "https://${module.compute.alb_dns_name}/"
}

output "warehouse" {
  description = "The warehouse location WikiStream is configured with."
  value       = "s3://${module.storage.bucket_name}/${var.environment}"
}

output "msk_bootstrap_brokers" {
  description = "MSK Serverless bootstrap brokers (SASL/IAM, port 9098)."
  value       = module.streaming.bootstrap_brokers
}

output "secret_names" {
  description = "Secrets to fill before the first deploy (docs/operations.md#deploy)."
  value       = module.secrets.secret_names
}

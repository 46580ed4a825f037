# WikiStream on AWS: producer -> MSK (IAM auth) -> bronze workers on ECS Fargate
# -> Iceberg tables (Glue catalog + S3) -> processor (silver, gold, gates) -> dashboard
# behind an internal HTTPS load balancer. Metrics go to Amazon Managed Service for
# Prometheus with the same alert rules as deploy/prometheus/rules.yml; alarms to SNS.
locals {
  name      = "wikistream-${var.environment}"
  topic     = "recentchange"
  group     = "bronze"
  namespace = var.environment
}

data "aws_caller_identity" "current" {}

module "network" {
  source             = "./modules/network"
  name               = local.name
  region             = var.region
  cidr               = var.vpc_cidr
  availability_zones = var.availability_zones
  log_retention_days = var.log_retention_days
  web_allowed_cidrs   = var.web_allowed_cidrs
  interface_endpoints = var.interface_endpoints
}

module "secrets" {
  source = "./modules/secrets"
  name   = local.name
}

module "storage" {
  source              = "./modules/storage"
  name                = local.name
  prefix              = local.namespace
  deletion_protection = var.deletion_protection
}

module "streaming" {
  source            = "./modules/streaming"
  name              = local.name
  subnet_ids        = module.network.private_subnet_ids
  security_group_id  = module.network.msk_security_group_id
  mode               = var.msk_mode
  log_retention_days = var.log_retention_days
}

module "monitoring" {
  source             = "./modules/monitoring"
  name               = local.name
  alert_email        = var.alert_email
  log_retention_days = var.log_retention_days
  services           = ["producer", "bronze", "processor", "web"]
  rules_file         = "${path.module}/../prometheus/rules.yml"
}

module "compute" {
  source                      = "./modules/compute"
  name                        = local.name
  region                      = var.region
  account_id                  = data.aws_caller_identity.current.account_id
  image                       = var.image
  private_subnet_ids          = module.network.private_subnet_ids
  vpc_id                      = module.network.vpc_id
  tasks_security_group_id     = module.network.tasks_security_group_id
  alb_security_group_id       = module.network.alb_security_group_id
  certificate_arn             = var.certificate_arn
  deletion_protection         = var.deletion_protection
  task_sizes                  = var.task_sizes
  bronze_workers              = var.bronze_workers
  web_tasks                   = var.web_tasks
  partitions                  = var.partitions
  topic                       = local.topic
  group                       = local.group
  warehouse_bucket            = module.storage.bucket_name
  warehouse_prefix            = local.namespace
  storage_kms_key_arn         = module.storage.kms_key_arn
  access_logs_bucket          = module.storage.access_logs_bucket_name
  msk_cluster_arn             = module.streaming.cluster_arn
  msk_cluster_name            = module.streaming.cluster_name
  msk_cluster_uuid            = module.streaming.cluster_uuid
  msk_bootstrap               = module.streaming.bootstrap_brokers
  log_group_names             = module.monitoring.log_group_names
  log_group_arns              = module.monitoring.log_group_arns
  prometheus_workspace_arn    = module.monitoring.prometheus_workspace_arn
  prometheus_remote_write_url = module.monitoring.prometheus_remote_write_url
  alerts_topic_arn            = module.monitoring.alerts_topic_arn
  secret_arns                 = module.secrets.secret_arns
  secrets_kms_key_arn         = module.secrets.kms_key_arn
}

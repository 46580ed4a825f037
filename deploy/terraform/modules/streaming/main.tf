# MSK with IAM authentication only (SASL/OAUTHBEARER via aws-msk-iam-sasl-signer-python:
# `[kafka] msk_iam = true`), in the private subnets: Serverless (no brokers to size; about
# $550/month at its $0.75 cluster-hour) or provisioned (two kafka.t3.small brokers for
# about $80/month: dev). Topics are created by the producer (`produce --partitions N`) and
# kept 7 days, as long as Wikimedia keeps the stream.
variable "name" {
  description = "Name prefix."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (2 or more zones)."
  type        = list(string)
}

variable "security_group_id" {
  description = "The cluster's security group (port 9098 from the tasks)."
  type        = string
}

variable "mode" {
  description = "serverless or provisioned."
  type        = string
  validation {
    condition     = contains(["serverless", "provisioned"], var.mode)
    error_message = "mode is serverless or provisioned."
  }
}

variable "broker_instance_type" {
  description = "Provisioned brokers' instance type (one broker per subnet)."
  type        = string
  default     = "kafka.t3.small"
}

variable "log_retention_days" {
  description = "Broker log retention (provisioned)."
  type        = number
}

resource "aws_msk_serverless_cluster" "this" {
  count        = var.mode == "serverless" ? 1 : 0
  cluster_name = var.name
  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [var.security_group_id]
  }
  client_authentication {
    sasl {
      iam {
        enabled = true
      }
    }
  }
}

module "key" {
  source = "../kms_key"
  name   = "${var.name}-kafka"
}

resource "aws_msk_configuration" "this" {
  count          = var.mode == "provisioned" ? 1 : 0
  name           = var.name
  kafka_versions = ["3.6.0"]
  server_properties = join("\n", [
    "auto.create.topics.enable=false",
    "log.retention.hours=168",
    "min.insync.replicas=1",
    "default.replication.factor=2",
  ])
}

resource "aws_cloudwatch_log_group" "brokers" {
  count             = var.mode == "provisioned" ? 1 : 0
  name              = "/wikistream/${var.name}/msk"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn
}

resource "aws_msk_cluster" "this" {
  count                  = var.mode == "provisioned" ? 1 : 0
  cluster_name           = var.name
  kafka_version          = "3.6.0"
  number_of_broker_nodes = length(var.subnet_ids)
  enhanced_monitoring    = "PER_TOPIC_PER_PARTITION"
  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = [var.security_group_id]
    storage_info {
      ebs_storage_info {
        volume_size = 50
      }
    }
    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }
  client_authentication {
    unauthenticated = false
    sasl {
      iam = true
    }
  }
  encryption_info {
    encryption_at_rest_kms_key_arn = module.key.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }
  configuration_info {
    arn      = aws_msk_configuration.this[0].arn
    revision = aws_msk_configuration.this[0].latest_revision
  }
  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.brokers[0].name
      }
    }
  }
}

locals {
  arn  = var.mode == "serverless" ? aws_msk_serverless_cluster.this[0].arn : aws_msk_cluster.this[0].arn
  uuid = var.mode == "serverless" ? aws_msk_serverless_cluster.this[0].cluster_uuid : aws_msk_cluster.this[0].cluster_uuid
  bootstrap = (var.mode == "serverless" ? aws_msk_serverless_cluster.this[0].bootstrap_brokers_sasl_iam
  : aws_msk_cluster.this[0].bootstrap_brokers_sasl_iam)
}

output "cluster_arn" {
  description = "The cluster's ARN."
  value       = local.arn
}

output "cluster_name" {
  description = "The cluster's name (in topic and group ARNs)."
  value       = var.name
}

output "cluster_uuid" {
  description = "The cluster's UUID (in topic and group ARNs)."
  value       = local.uuid
}

output "bootstrap_brokers" {
  description = "Bootstrap brokers for SASL/IAM (port 9098)."
  value       = local.bootstrap
}

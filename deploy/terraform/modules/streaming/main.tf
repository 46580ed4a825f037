# MSK Serverless with IAM authentication only (SASL/OAUTHBEARER via
# aws-msk-iam-sasl-signer-python: `[kafka] msk_iam = true`), in the private subnets.
# Topics are created by the producer (`produce --partitions N`); retention is MSK
# Serverless' default 7 days, as long as Wikimedia's own.
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

resource "aws_msk_serverless_cluster" "this" {
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

output "cluster_arn" {
  description = "The cluster's ARN."
  value       = aws_msk_serverless_cluster.this.arn
}

output "cluster_name" {
  description = "The cluster's name (in topic and group ARNs)."
  value       = aws_msk_serverless_cluster.this.cluster_name
}

output "cluster_uuid" {
  description = "The cluster's UUID (in topic and group ARNs)."
  value       = aws_msk_serverless_cluster.this.cluster_uuid
}

output "bootstrap_brokers" {
  description = "Bootstrap brokers for SASL/IAM."
  value       = aws_msk_serverless_cluster.this.bootstrap_brokers_sasl_iam
}

variable "name" {
  description = "Name prefix."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "account_id" {
  description = "AWS account id (ARNs)."
  type        = string
}

variable "image" {
  description = "The WikiStream image."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets for tasks and the internal load balancer."
  type        = list(string)
}

variable "tasks_security_group_id" {
  description = "Security group of the tasks."
  type        = string
}

variable "alb_security_group_id" {
  description = "Security group of the load balancer."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion."
  type        = bool
}

variable "task_sizes" {
  description = "CPU and memory per service."
  type        = map(object({ cpu = number, memory = number }))
}

variable "bronze_workers" {
  description = "Bronze worker tasks."
  type        = number
}

variable "web_tasks" {
  description = "Dashboard tasks."
  type        = number
}

variable "partitions" {
  description = "Partitions of the topic (the producer creates it with this many)."
  type        = number
}

variable "topic" {
  description = "The Kafka topic."
  type        = string
}

variable "group" {
  description = "The bronze consumer group."
  type        = string
}

variable "warehouse_bucket" {
  description = "The warehouse bucket."
  type        = string
}

variable "warehouse_prefix" {
  description = "This environment's prefix in the bucket."
  type        = string
}

variable "storage_kms_key_arn" {
  description = "Key of the warehouse bucket."
  type        = string
}

variable "access_logs_bucket" {
  description = "Bucket for the load balancer's access logs."
  type        = string
}

variable "msk_cluster_arn" {
  description = "The MSK cluster."
  type        = string
}

variable "msk_cluster_name" {
  description = "The MSK cluster's name."
  type        = string
}

variable "msk_cluster_uuid" {
  description = "The MSK cluster's UUID."
  type        = string
}

variable "msk_bootstrap" {
  description = "MSK bootstrap brokers (SASL/IAM)."
  type        = string
}

variable "log_group_names" {
  description = "Log group per service."
  type        = map(string)
}

variable "log_group_arns" {
  description = "Log group ARN per service."
  type        = map(string)
}

variable "prometheus_workspace_arn" {
  description = "Managed Prometheus workspace."
  type        = string
}

variable "prometheus_remote_write_url" {
  description = "Remote-write endpoint of the workspace."
  type        = string
}

variable "alerts_topic_arn" {
  description = "SNS topic for alarms and WikiStream's own alerts."
  type        = string
}

variable "secret_arns" {
  description = "Secret ARN per name (user_agent, smtp, webhook_url, admin_token)."
  type        = map(string)
}

variable "secrets_kms_key_arn" {
  description = "Key of the secrets."
  type        = string
}

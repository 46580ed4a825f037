variable "environment" {
  description = "dev, staging or prod: names and sizes (environments/*.tfvars)."
  type        = string
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment is dev, staging or prod."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's address range."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "How many availability zones the private subnets span."
  type        = number
  default     = 2
}

variable "image" {
  description = "The WikiStream image (ECR URI with a digest, e.g. …/wikistream@sha256:…)."
  type        = string
}

variable "partitions" {
  description = "Partitions of the recentchange topic; at most this many bronze workers get work."
  type        = number
  default     = 4
}

variable "bronze_workers" {
  description = "Bronze worker tasks (`run --no-process`), besides the processor (also a worker)."
  type        = number
  default     = 2
}

variable "task_sizes" {
  description = "CPU units and MiB of memory per service."
  type        = map(object({ cpu = number, memory = number }))
  default = {
    producer  = { cpu = 512, memory = 1024 }
    bronze    = { cpu = 1024, memory = 2048 }
    # A bronze batch (~1 GB at 50,000 events) beside a rebuild chunk (< 1 GB): docs/scale-out.md
    processor = { cpu = 2048, memory = 4096 }
    web       = { cpu = 512, memory = 2048 }
  }
}

variable "web_tasks" {
  description = "Dashboard tasks behind the load balancer."
  type        = number
  default     = 1
}

variable "certificate_arn" {
  description = "ACM certificate for the dashboard's HTTPS listener."
  type        = string
}

variable "web_allowed_cidrs" {
  description = "Who may reach the (internal) dashboard load balancer: VPN or office ranges."
  type        = list(string)
  default     = []
}

variable "alert_email" {
  description = "Where alarms and alerts are e-mailed (SNS; confirm the subscription)."
  type        = string
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention."
  type        = number
  default     = 365
}

variable "deletion_protection" {
  description = "Protect the load balancer and keep the warehouse bucket on destroy."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = "AWS services reached through VPC interface endpoints (each ~$16/month in 2 zones)."
  type        = list(string)
  default = ["glue", "secretsmanager", "logs", "monitoring", "ecr.api", "ecr.dkr", "sns", "sts",
  "aps-workspaces", "kms"]
}

variable "msk_mode" {
  description = "serverless (no brokers to size) or provisioned (two small brokers: cheaper for dev)."
  type        = string
  default     = "serverless"
}

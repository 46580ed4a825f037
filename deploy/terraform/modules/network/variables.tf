variable "name" {
  description = "Name prefix."
  type        = string
}

variable "region" {
  description = "AWS region (VPC endpoint service names)."
  type        = string
}

variable "cidr" {
  description = "VPC address range."
  type        = string
}

variable "availability_zones" {
  description = "How many zones the subnets span."
  type        = number
}

variable "log_retention_days" {
  description = "Flow log retention."
  type        = number
}

variable "web_allowed_cidrs" {
  description = "Ranges allowed to the dashboard's load balancer, besides the VPC."
  type        = list(string)
}

variable "interface_endpoints" {
  description = "AWS services reached through interface endpoints instead of the NAT gateway."
  type        = list(string)
}

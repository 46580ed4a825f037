# dev: one zone's worth of capacity, short log retention, easy to tear down.
# Cost per month (eu-west-1, on-demand, 730 h): docs/operations.md#what-dev-costs.
environment         = "dev"
region              = "eu-west-1"
vpc_cidr            = "10.40.0.0/16"
availability_zones  = 2
image               = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/wikistream@sha256:REPLACE_WITH_THE_PUSHED_DIGEST"
certificate_arn     = "arn:aws:acm:eu-west-1:123456789012:certificate/REPLACE"
alert_email         = "oncall-dev@example.org"
partitions          = 4
bronze_workers      = 1
web_tasks           = 1
log_retention_days  = 365
deletion_protection = false
task_sizes = {
  producer  = { cpu = 256, memory = 512 }
  bronze    = { cpu = 512, memory = 1024 }
  processor = { cpu = 1024, memory = 4096 }
  web       = { cpu = 256, memory = 1024 }
}
msk_mode            = "provisioned"
interface_endpoints = []

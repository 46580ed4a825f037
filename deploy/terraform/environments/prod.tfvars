# prod: three zones, a worker per partition, two dashboard tasks.
environment         = "prod"
region              = "eu-west-1"
vpc_cidr            = "10.42.0.0/16"
availability_zones  = 3
image               = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/wikistream@sha256:REPLACE_WITH_THE_PUSHED_DIGEST"
certificate_arn     = "arn:aws:acm:eu-west-1:123456789012:certificate/REPLACE"
alert_email         = "oncall@example.org"
web_allowed_cidrs   = ["10.0.0.0/8"]
partitions          = 8
bronze_workers      = 7
web_tasks           = 2
log_retention_days  = 400
deletion_protection = true
task_sizes = {
  producer  = { cpu = 512, memory = 1024 }
  bronze    = { cpu = 1024, memory = 2048 }
  processor = { cpu = 4096, memory = 8192 }
  web       = { cpu = 1024, memory = 2048 }
}
msk_mode            = "serverless"

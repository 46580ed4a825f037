# staging: production's shape at a smaller size.
environment         = "staging"
region              = "eu-west-1"
vpc_cidr            = "10.41.0.0/16"
availability_zones  = 2
image               = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/wikistream@sha256:REPLACE_WITH_THE_PUSHED_DIGEST"
certificate_arn     = "arn:aws:acm:eu-west-1:123456789012:certificate/REPLACE"
alert_email         = "oncall-staging@example.org"
partitions          = 4
bronze_workers      = 2
web_tasks           = 1
log_retention_days  = 365
deletion_protection = true
msk_mode            = "provisioned"

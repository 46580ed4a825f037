# The warehouse: one S3 bucket (KMS-encrypted, versioned, private) whose prefix per
# environment holds every table's files and WikiStream's documents, and the Glue databases
# that catalog the tables (bronze, silver, gold, dq, ops; PyIceberg's Glue catalog).
variable "name" {
  description = "Name prefix."
  type        = string
}

variable "prefix" {
  description = "Key prefix of this environment's warehouse in the bucket."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to destroy a bucket that still holds objects."
  type        = bool
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

module "key" {
  source = "../kms_key"
  name   = "${var.name}-warehouse"
}

resource "aws_s3_bucket" "warehouse" {
  # checkov:skip=CKV_AWS_144: cross-region replication is a disaster-recovery choice per deployment; bronze can be replayed from Kafka (7 days) and Wikimedia (7 days)
  # checkov:skip=CKV2_AWS_62: nothing consumes object events; commits are announced by the catalog
  bucket        = "${var.name}-warehouse-${data.aws_caller_identity.current.account_id}"
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_versioning" "warehouse" {
  bucket = aws_s3_bucket.warehouse.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "warehouse" {
  bucket = aws_s3_bucket.warehouse.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.key.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "warehouse" {
  bucket                  = aws_s3_bucket.warehouse.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "warehouse" {
  bucket = aws_s3_bucket.warehouse.id
  rule {
    id     = "tidy"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
    # Iceberg's snapshot expiry deletes files; versioning keeps them 30 days for recovery.
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }
}

resource "aws_s3_bucket_logging" "warehouse" {
  bucket        = aws_s3_bucket.warehouse.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "s3/warehouse/"
}

# Access logs of the warehouse bucket and the load balancer.
resource "aws_s3_bucket" "access_logs" {
  # checkov:skip=CKV_AWS_144: access logs are not replicated; losing them loses no data
  # checkov:skip=CKV2_AWS_62: nothing consumes object events of access logs
  # checkov:skip=CKV_AWS_18: the access-log bucket does not log access to itself (a loop)
  # checkov:skip=CKV_AWS_145: ALB access logs support only SSE-S3 (AES256), not KMS
  bucket        = "${var.name}-access-logs-${data.aws_caller_identity.current.account_id}"
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = 90
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

data "aws_elb_service_account" "this" {}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "LoadBalancerWritesAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/alb/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }
  statement {
    sid       = "S3WritesServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs.json
}

# WikiStream's namespaces are the database names, so one environment per account and region
# (AWS's account-per-environment layout); the bucket prefix separates them too.
resource "aws_glue_catalog_database" "layer" {
  for_each    = toset(["bronze", "silver", "gold", "dq", "ops"])
  name        = each.value
  description = "WikiStream ${each.value} tables (${var.prefix})"
}

output "bucket_name" {
  description = "The warehouse bucket."
  value       = aws_s3_bucket.warehouse.id
}

output "bucket_arn" {
  description = "The warehouse bucket's ARN."
  value       = aws_s3_bucket.warehouse.arn
}

output "kms_key_arn" {
  description = "The key the warehouse is encrypted with."
  value       = module.key.arn
}

output "access_logs_bucket_name" {
  description = "Bucket for access logs."
  value       = aws_s3_bucket.access_logs.id
}

output "glue_databases" {
  description = "Glue database per layer."
  value       = { for layer, db in aws_glue_catalog_database.layer : layer => db.name }
}

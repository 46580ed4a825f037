# One task role per command, with only the actions it calls on the resources it touches
# (docs/deploy-aws.md#least-privilege-iam-per-command), and one execution role for ECS.
# tests/deploy/test_terraform.py fails on a "*" action, a "service:*" action, or a
# Resource "*" without a comment saying why AWS requires it.
locals {
  wh       = "arn:aws:s3:::${var.warehouse_bucket}/${var.warehouse_prefix}"
  bucket   = "arn:aws:s3:::${var.warehouse_bucket}"
  glue     = "arn:aws:glue:${var.region}:${var.account_id}"
  kafka    = "arn:aws:kafka:${var.region}:${var.account_id}"
  topic    = "${local.kafka}:topic/${var.msk_cluster_name}/${var.msk_cluster_uuid}"
  group    = "${local.kafka}:group/${var.msk_cluster_name}/${var.msk_cluster_uuid}"
  layers   = ["bronze", "silver", "gold", "dq", "ops"]
  # The catalog, the five databases and every table in them.
  catalog_all = concat(["${local.glue}:catalog"],
    [for layer in local.layers : "${local.glue}:database/${layer}"],
  [for layer in local.layers : "${local.glue}:table/${layer}/*"])
  services = ["setup", "producer", "bronze", "processor", "web"]
}

data "aws_iam_policy_document" "tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "task" {
  for_each           = toset(local.services)
  name               = "${var.name}-${each.value}"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
}

resource "aws_iam_role_policy" "task" {
  for_each = {
    setup     = data.aws_iam_policy_document.setup.json
    producer  = data.aws_iam_policy_document.producer.json
    bronze    = data.aws_iam_policy_document.bronze.json
    processor = data.aws_iam_policy_document.processor.json
    web       = data.aws_iam_policy_document.web.json
  }
  name   = "wikistream-${each.key}"
  role   = aws_iam_role.task[each.key].id
  policy = each.value
}

# setup: `wikistream init` (a one-off task): create and upgrade every table.
data "aws_iam_policy_document" "setup" {
  source_policy_documents = [data.aws_iam_policy_document.warehouse_listing.json]
  statement {
    sid     = "CatalogCreatesTables"
    actions = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable"]
    resources = local.catalog_all
  }
  statement {
    sid       = "TableMetadata"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.wh}/*.db/*/metadata/*"]
  }
  statement {
    sid       = "WarehouseKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.storage_kms_key_arn]
  }
}

# producer: `wikistream produce --to kafka://…/TOPIC --partitions N`.
data "aws_iam_policy_document" "producer" {
  statement {
    sid       = "Cluster"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
    resources = [var.msk_cluster_arn]
  }
  statement {
    sid     = "Topics"
    actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:CreateTopic", "kafka-cluster:WriteData"]
    resources = ["${local.topic}/${var.topic}", "${local.topic}/${var.topic}.dlq",
    "${local.topic}/${var.topic}.positions"]
  }
  statement {
    sid       = "ResumeFromItsPosition"
    actions   = ["kafka-cluster:ReadData"]
    resources = ["${local.topic}/${var.topic}.positions"]
  }
}

# Reading a partition's offsets back needs a group (librdkafka); the status group.
data "aws_iam_policy_document" "worker_kafka" {
  statement {
    sid       = "Cluster"
    actions   = ["kafka-cluster:Connect"]
    resources = [var.msk_cluster_arn]
  }
  statement {
    sid       = "ReadTheTopic"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = ["${local.topic}/${var.topic}"]
  }
  statement {
    sid       = "TheGroup"
    actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = ["${local.group}/${var.group}"]
  }
}

# bronze worker: `wikistream run --no-process --source kafka://…?group=GROUP --serve`.
data "aws_iam_policy_document" "bronze" {
  source_policy_documents = [data.aws_iam_policy_document.worker_kafka.json,
    data.aws_iam_policy_document.metrics.json,
  data.aws_iam_policy_document.warehouse_listing.json]
  statement {
    sid     = "CatalogReadsEveryTable"
    actions = ["glue:GetDatabase", "glue:GetTable"]
    resources = local.catalog_all
  }
  statement {
    sid       = "CatalogCommitsBronze"
    actions   = ["glue:UpdateTable"]
    resources = ["${local.glue}:table/bronze/*"]
  }
  statement {
    sid       = "ReadsTableMetadata"
    actions   = ["s3:GetObject"]
    resources = ["${local.wh}/*.db/*/metadata/*"]
  }
  statement {
    sid       = "WritesBronzeAndRunState"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.wh}/bronze.db/*", "${local.wh}/ops/*"]
  }
  statement {
    sid       = "WarehouseKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.storage_kms_key_arn]
  }
}

# processor: `wikistream run --source kafka://… --serve`: a bronze worker that also holds
# the processing lease (silver, gold, gates, maintenance) and alerts through SNS.
data "aws_iam_policy_document" "processor" {
  source_policy_documents = [data.aws_iam_policy_document.bronze.json]
  statement {
    sid       = "CatalogCommitsTheLayers"
    actions   = ["glue:UpdateTable"]
    resources = [for layer in ["silver", "gold", "dq", "ops"] : "${local.glue}:table/${layer}/*"]
  }
  statement {
    sid     = "WritesTheLayers"
    actions = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]
    resources = ["${local.wh}/silver.db/*", "${local.wh}/gold.db/*", "${local.wh}/dq.db/*",
    "${local.wh}/ops.db/*", "${local.wh}/dq/*", "${local.wh}/ops/*"]
  }
  statement {
    sid       = "Alerts"
    actions   = ["sns:Publish"]
    resources = [var.alerts_topic_arn]
  }
}

# web: `wikistream serve` (read-only), with Kafka lag in /api/status.
data "aws_iam_policy_document" "web" {
  source_policy_documents = [data.aws_iam_policy_document.metrics.json,
  data.aws_iam_policy_document.warehouse_listing.json]
  statement {
    sid     = "CatalogReads"
    actions = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"]
    resources = local.catalog_all
  }
  statement {
    sid       = "ReadsTheWarehouse"
    actions   = ["s3:GetObject"]
    resources = ["${local.wh}/*"]
  }
  statement {
    sid       = "WarehouseKey"
    actions   = ["kms:Decrypt"]
    resources = [var.storage_kms_key_arn]
  }
  statement {
    sid       = "KafkaLag"
    actions   = ["kafka-cluster:Connect"]
    resources = [var.msk_cluster_arn]
  }
  statement {
    sid       = "KafkaLagTopic"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = ["${local.topic}/${var.topic}"]
  }
  statement {
    sid       = "KafkaLagGroup"
    actions   = ["kafka-cluster:DescribeGroup"]
    resources = ["${local.group}/wikistream-status"]
  }
}

# Listing the environment's prefix: a missing document is then a 404, not a 403.
data "aws_iam_policy_document" "warehouse_listing" {
  statement {
    sid       = "ListTheWarehouse"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.warehouse_prefix}/*"]
    }
  }
}

# The ADOT collector beside a task remote-writes its /metrics to managed Prometheus.
data "aws_iam_policy_document" "metrics" {
  statement {
    sid       = "RemoteWriteMetrics"
    actions   = ["aps:RemoteWrite"]
    resources = [var.prometheus_workspace_arn]
  }
}

# ECS itself: pull the image, write logs, read the secrets it injects.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # "*": ecr:GetAuthorizationToken supports no resource-level permissions
  }
  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = ["arn:aws:ecr:${var.region}:${var.account_id}:repository/wikistream"]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for arn in values(var.log_group_arns) : "${arn}:*"]
  }
  statement {
    sid       = "InjectSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(var.secret_arns)
  }
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "ecs-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

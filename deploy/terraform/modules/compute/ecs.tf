# The roles as ECS Fargate services of one image: producer (1), bronze workers (scaled to
# the partitions), the processor (1; holds the processing lease), the dashboard (behind the
# load balancer), and `init` as a one-off task definition (run it before the first deploy).
locals {
  kafka_source = "kafka://${var.msk_bootstrap}/${var.topic}?group=${var.group}"
  catalog = jsonencode({
    "glue.region" = var.region, "s3.region" = var.region, "glue.id" = var.account_id
  })
  environment = [
    { name = "WIKISTREAM_WAREHOUSE", value = "s3://${var.warehouse_bucket}/${var.warehouse_prefix}" },
    { name = "WIKISTREAM_CATALOG__TYPE", value = "glue" },
    { name = "WIKISTREAM_CATALOG__PROPERTIES", value = local.catalog },
    { name = "WIKISTREAM_KAFKA__BOOTSTRAP_SERVERS", value = var.msk_bootstrap },
    { name = "WIKISTREAM_KAFKA__MSK_IAM", value = "true" },
    { name = "WIKISTREAM_KAFKA__REGION", value = var.region },
    { name = "WIKISTREAM_ALERTS__ROUTES", value = jsonencode({ critical = ["log", "sns"], warning = ["log", "sns"] }) },
    { name = "WIKISTREAM_ALERTS__SNS__TOPIC_ARN", value = var.alerts_topic_arn },
    { name = "WIKISTREAM_ALERTS__SNS__REGION", value = var.region },
  ]
  commands = {
    setup     = ["--log-format", "json", "init"]
    producer  = ["--log-format", "json", "produce", "--source", "live", "--to", "kafka://${var.msk_bootstrap}/${var.topic}", "--partitions", tostring(var.partitions)]
    bronze    = ["--log-format", "json", "run", "--no-process", "--source", local.kafka_source, "--serve"]
    processor = ["--log-format", "json", "run", "--source", local.kafka_source, "--serve"]
    web       = ["--log-format", "json", "serve"]
  }
  secrets = {
    setup     = []
    producer  = [{ name = "WIKISTREAM_SOURCE__USER_AGENT", valueFrom = var.secret_arns["user_agent"] }]
    bronze    = []
    processor = []
    web       = [{ name = "WIKISTREAM_WEB__ADMIN_TOKEN", valueFrom = var.secret_arns["admin_token"] }]
  }
  sizes = merge(var.task_sizes, { setup = var.task_sizes["web"] })
  logs  = merge(var.log_group_names, { setup = var.log_group_names["web"] })
  # Services with a web server get the metrics collector beside them.
  scraped = toset(["bronze", "processor", "web"])
  desired = { producer = 1, bronze = var.bronze_workers, processor = 1, web = var.web_tasks }
  collector = yamlencode({
    receivers = { prometheus = { config = { scrape_configs = [{
      job_name        = "wikistream"
      scrape_interval = "30s"
      static_configs  = [{ targets = ["127.0.0.1:8765"] }]
    }] } } }
    extensions = { sigv4auth = { region = var.region, service = "aps" } }
    exporters = { prometheusremotewrite = {
      endpoint = var.prometheus_remote_write_url, auth = { authenticator = "sigv4auth" }
    } }
    service = { extensions = ["sigv4auth"], pipelines = { metrics = {
      receivers = ["prometheus"], exporters = ["prometheusremotewrite"]
    } } }
  })
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "role" {
  for_each                 = local.commands
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.sizes[each.key].cpu
  memory                   = local.sizes[each.key].memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "ARM64" # Graviton: the image is multi-arch (docs/operations.md)
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode(concat([{
    name                   = "wikistream"
    image                  = var.image
    essential              = true
    command                = each.value
    user                   = "10001:10001"
    readonlyRootFilesystem = true
    environment            = local.environment
    secrets                = local.secrets[each.key]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    portMappings           = contains(["setup", "producer"], each.key) ? [] : [{ containerPort = 8765, protocol = "tcp" }]
    healthCheck = contains(["setup", "producer"], each.key) ? null : {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4)"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = local.logs[each.key]
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = each.key
      }
    }
    }], contains(tolist(local.scraped), each.key) ? [{
    name                   = "metrics"
    image                  = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1"
    essential              = false
    readonlyRootFilesystem = true
    environment            = [{ name = "AOT_CONFIG_CONTENT", value = local.collector }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = local.logs[each.key]
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "${each.key}-metrics"
      }
    }
  }] : []))
}

resource "aws_ecs_service" "role" {
  for_each               = local.desired
  name                   = each.key
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.role[each.key].arn
  desired_count          = each.value
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  enable_execute_command = false
  propagate_tags         = "SERVICE"
  # Rolling updates: a new task starts before an old one stops; Kafka rebalances and the
  # lease hand over (docs/operations.md#rolling-update).
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.tasks_security_group_id]
    assign_public_ip = false
  }
  dynamic "load_balancer" {
    for_each = each.key == "web" ? [1] : []
    content {
      target_group_arn = aws_lb_target_group.web.arn
      container_name   = "wikistream"
      container_port   = 8765
    }
  }
}

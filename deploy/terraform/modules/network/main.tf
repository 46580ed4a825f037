# A VPC with private subnets for every task, VPC endpoints for the AWS services they call
# (S3 through a free gateway endpoint; Glue, Secrets Manager, CloudWatch, ECR, SNS, KMS,
# Prometheus through interface endpoints where `interface_endpoints` lists them: about $16
# a month each, so dev sends that traffic through the NAT instead), and one NAT gateway for
# the one thing outside AWS: the producer reading stream.wikimedia.org.
data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "zone-name" # a closed set: a zone AWS adds later does not move the subnets
    values = [for letter in ["a", "b", "c"] : "${var.region}${letter}"]
  }
}

locals {
  zones = slice(data.aws_availability_zones.available.names, 0, var.availability_zones)
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = var.name }
}

# Nothing may use the default security group.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.this.id
}

resource "aws_subnet" "private" {
  count             = length(local.zones)
  vpc_id            = aws_vpc.this.id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(var.cidr, 4, count.index)
  tags              = { Name = "${var.name}-private-${local.zones[count.index]}" }
}

resource "aws_subnet" "public" {
  count             = length(local.zones)
  vpc_id            = aws_vpc.this.id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(var.cidr, 8, 200 + count.index)
  tags              = { Name = "${var.name}-public-${local.zones[count.index]}" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
}

resource "aws_eip" "nat" {
  domain = "vpc"
}

resource "aws_nat_gateway" "this" {
  allocation_id = aws_eip.nat.id
  subnet_id     = aws_subnet.public[0].id
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
}

resource "aws_route_table_association" "public" {
  count          = length(aws_subnet.public)
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this.id
  }
}

resource "aws_route_table_association" "private" {
  count          = length(aws_subnet.private)
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = toset(var.interface_endpoints)
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${var.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "REJECT"
  log_destination = aws_cloudwatch_log_group.flow.arn
  iam_role_arn    = aws_iam_role.flow.arn
}

module "flow_key" {
  source             = "../kms_key"
  name               = "${var.name}-vpc-flow-logs"
  service_principals = ["logs.${var.region}.amazonaws.com"]
}

resource "aws_cloudwatch_log_group" "flow" {
  name              = "/wikistream/${var.name}/vpc-flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.flow_key.arn
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow" {
  name               = "${var.name}-vpc-flow"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
}

data "aws_iam_policy_document" "flow" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.flow.json
}

# Security groups --------------------------------------------------------------------------

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "VPC interface endpoints: HTTPS from the VPC"
  vpc_id      = aws_vpc.this.id
  ingress {
    description = "HTTPS from inside the VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.cidr]
  }
}

resource "aws_security_group" "alb" {
  # checkov:skip=CKV2_AWS_5: attached to the dashboard load balancer in the compute module (checkov does not follow module outputs)
  name        = "${var.name}-alb"
  description = "The dashboard load balancer: HTTPS from the VPC and the allowed ranges"
  vpc_id      = aws_vpc.this.id
  ingress {
    description = "HTTPS to the dashboard"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = concat([var.cidr], var.web_allowed_cidrs)
  }
  egress {
    description = "To the dashboard tasks"
    from_port   = 8765
    to_port     = 8765
    protocol    = "tcp"
    cidr_blocks = [var.cidr]
  }
}

resource "aws_security_group" "tasks" {
  # checkov:skip=CKV2_AWS_5: attached to every ECS service in the compute module (checkov does not follow module outputs)
  name        = "${var.name}-tasks"
  description = "WikiStream tasks: the dashboard port from the load balancer; HTTPS and Kafka out"
  vpc_id      = aws_vpc.this.id
  ingress {
    description     = "Dashboard and /healthz from the load balancer"
    from_port       = 8765
    to_port         = 8765
    protocol        = "tcp"
    security_groups = [aws_security_group.alb.id]
  }
  egress {
    description = "MSK (SASL/IAM) inside the VPC"
    from_port   = 9098
    to_port     = 9098
    protocol    = "tcp"
    cidr_blocks = [var.cidr]
  }
  egress {
    # checkov:skip=CKV_AWS_382: the producer reads stream.wikimedia.org, whose addresses are not fixed; AWS services go through the VPC endpoints
    description = "HTTPS: VPC endpoints, S3, and the Wikimedia stream through the NAT gateway"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "msk" {
  # checkov:skip=CKV2_AWS_5: attached to the MSK cluster in the streaming module (checkov does not follow module outputs)
  name        = "${var.name}-msk"
  description = "MSK Serverless: SASL/IAM from the WikiStream tasks only"
  vpc_id      = aws_vpc.this.id
  ingress {
    description     = "Kafka over TLS with IAM auth"
    from_port       = 9098
    to_port         = 9098
    protocol        = "tcp"
    security_groups = [aws_security_group.tasks.id]
  }
}

terraform {
  # Terraform and its providers cannot be downloaded on the development machine; the
  # configuration is checked offline (python-hcl2 parses it, checkov scans it, a test walks
  # its IAM policies) and kept valid for the provider version pinned here.
  required_version = ">= 1.6.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      project     = "wikistream"
      environment = var.environment
    }
  }
}

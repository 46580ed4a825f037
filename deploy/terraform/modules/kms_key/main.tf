# One customer-managed key, rotated yearly, whose policy lets the account administer it
# (explicit actions, no wildcards) and lets the named AWS services use it.
variable "name" {
  description = "What the key encrypts (its description and alias)."
  type        = string
}

variable "service_principals" {
  description = "AWS services that encrypt with it (e.g. logs.eu-west-1.amazonaws.com)."
  type        = list(string)
  default     = []
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109: a key policy; its "*" resource is this key, and administration is kept to the account
  # checkov:skip=CKV_AWS_111: a key policy; its "*" resource is this key, and use is kept to the named services
  # checkov:skip=CKV_AWS_356: a key policy can only name "*" (this key) as its resource
  statement {
    sid = "AccountAdministersTheKey"
    actions = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
      "kms:EnableKeyRotation", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource",
      "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
    resources = ["*"] # "*" in a key policy means this key: the only resource it can govern
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  dynamic "statement" {
    for_each = length(var.service_principals) > 0 ? [1] : []
    content {
      sid = "ServicesEncryptWithIt"
      actions = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
      "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
      resources = ["*"] # "*" in a key policy means this key: the only resource it can govern
      principals {
        type        = "Service"
        identifiers = var.service_principals
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.name
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

output "arn" {
  description = "The key's ARN."
  value       = aws_kms_key.this.arn
}

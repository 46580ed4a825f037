output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "alb_dns_name" {
  description = "The dashboard load balancer's name in DNS."
  value       = aws_lb.web.dns_name
}

output "task_role_arns" {
  description = "Task role per command."
  value       = { for role, r in aws_iam_role.task : role => r.arn }
}

output "setup_task_definition" {
  description = "Run once before the first deploy: aws ecs run-task … (docs/operations.md)."
  value       = aws_ecs_task_definition.role["setup"].arn
}

output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets for tasks, MSK and the load balancer."
  value       = aws_subnet.private[*].id
}

output "tasks_security_group_id" {
  description = "Security group of every WikiStream task."
  value       = aws_security_group.tasks.id
}

output "alb_security_group_id" {
  description = "Security group of the dashboard load balancer."
  value       = aws_security_group.alb.id
}

output "msk_security_group_id" {
  description = "Security group of the MSK cluster."
  value       = aws_security_group.msk.id
}

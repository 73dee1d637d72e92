// The ECS part of the local cloud; see its issue.

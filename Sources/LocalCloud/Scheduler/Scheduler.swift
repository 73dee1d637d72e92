// The Scheduler part of the local cloud; see its issue.

// The Logs part of the local cloud; see its issue.

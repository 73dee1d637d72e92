// The Runners part of the local cloud; see its issue.

// The Schedules module; see the issue that builds it.

// The Events part of the local cloud; see its issue.

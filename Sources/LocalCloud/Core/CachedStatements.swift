import GRDB

extension Database {
    /// Runs `sql` through a statement prepared once per connection and kept.
    ///
    /// The hot paths (an execution's history, its snapshot, its row) run the same few statements thousands of
    /// times a second; preparing each anew, with GRDB's authorizer consulted for every one, was a tenth of the
    /// server's time.
    public func executeCached(_ sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

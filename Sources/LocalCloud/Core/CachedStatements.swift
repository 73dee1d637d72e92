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

extension Database {
    /// The rows of the statement for `sql` (prepared once per connection and kept), each decoded by `decode`
    /// while SQLite is on it.
    ///
    /// Rows are decoded in place rather than fetched and mapped: a fetched row is a copy, and a copy's
    /// `row["column"]` lowercases every column name it holds at each lookup, close to half of the work of a
    /// ListExecutions page. A row read in place finds its column in the statement's own index. `decode` must
    /// not keep the row.
    public func fetchAllCached<T>(
        _ sql: String, arguments: StatementArguments = StatementArguments(), _ decode: (Row) throws -> T
    ) throws -> [T] {
        // The cursor is kept until its last row is decoded: a row read in place reads the cursor's statement,
        // which the cursor resets when released.
        let rows = try Row.fetchCursor(cachedStatement(sql: sql), arguments: arguments)
        return try withExtendedLifetime(rows) {
            var values: [T] = []
            while let row = try rows.next() { values.append(try decode(row)) }
            return values
        }
    }

    /// The first row of the statement for `sql`, decoded in place (see ``fetchAllCached(_:arguments:_:)``), or nil.
    public func fetchOneCached<T>(
        _ sql: String, arguments: StatementArguments = StatementArguments(), _ decode: (Row) throws -> T
    ) throws -> T? {
        let rows = try Row.fetchCursor(cachedStatement(sql: sql), arguments: arguments)
        return try withExtendedLifetime(rows) { try rows.next().map(decode) }
    }
}

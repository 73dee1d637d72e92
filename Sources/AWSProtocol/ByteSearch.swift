extension String {
    /// Whether `part` occurs in the string, compared byte for byte (the same answer as `contains` for the ASCII
    /// ARN fragments and media types it is used with). For the paths every request takes: Foundation's `contains`
    /// searches as a CFString, and the standard library's generic one resolves type metadata on each call;
    /// together they were 1% of the server's time under load.
    public func containsBytes(_ part: String) -> Bool {
        var whole = self, part = part
        return whole.withUTF8 { haystack in
            part.withUTF8 { needle in
                guard let first = needle.first else { return true }
                guard needle.count <= haystack.count else { return false }
                var start = 0
                while start <= haystack.count - needle.count {
                    if haystack[start] == first {
                        var length = 1
                        while length < needle.count && haystack[start + length] == needle[length] { length += 1 }
                        if length == needle.count { return true }
                    }
                    start += 1
                }
                return false
            }
        }
    }
}

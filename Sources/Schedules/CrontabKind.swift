/// Which of cron's two file formats a crontab is written in (crontab(5)).
public enum CrontabKind: String, Sendable, Equatable {
    /// A user's crontab (`crontab -e`, `crontab -l`): five time fields (or a macro), then the command.
    case user
    /// A system crontab (`/etc/crontab`, `/etc/cron.d/*`): the time fields, the user cron runs the command as,
    /// then the command.
    case system
}

/// The kind a crontab was read as, and why: the report says so first, because a wrong guess changes every line.
public struct CrontabKindDecision: Sendable, Equatable {
    public var kind: CrontabKind
    public var reason: String

    public init(kind: CrontabKind, reason: String) {
        self.kind = kind
        self.reason = reason
    }
}

extension Crontab {
    /// The kind of the crontab `text` read from `path` (nil: standard input). Conservative, because reading a
    /// user crontab as a system one loses each command's first word: system when the path is `/etc/crontab` or a
    /// file in a `cron.d` folder, when a comment names the columns with a user before the command (the header of
    /// Debian's and Red Hat's `/etc/crontab`), or when most lines read as `USER COMMAND` with a user name cron
    /// installs or a command word after it (`www-data cd /srv/app && ...`); user otherwise.
    public static func detectKind(_ text: String, path: String?) -> CrontabKindDecision {
        if let path {
            let components = path.split(separator: "/").map(String.init)
            if components.suffix(2) == ["etc", "crontab"] {
                return CrontabKindDecision(
                    kind: .system,
                    reason: "\(path) is the system crontab: the sixth field of each line is the user cron runs the command as")
            }
            if components.dropLast().last == "cron.d" {
                return CrontabKindDecision(
                    kind: .system,
                    reason: "\(path) is in a cron.d folder, whose crontabs name the user cron runs each command as in the sixth field")
            }
        }
        var lines: [(sixth: String, seventh: String?)] = []
        for rawLine in text.components(separatedBy: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.hasPrefix("#") {
                if commentNamesUserColumn(line) {
                    return CrontabKindDecision(
                        kind: .system,
                        reason:
                            "its header comment names a user column before the command, as system crontabs (/etc/crontab, /etc/cron.d) have"
                    )
                }
                continue
            }
            if line.isEmpty || environmentAssignment(line) != nil { continue }
            let timeFields = line.hasPrefix("@") ? 1 : 5
            guard let (_, rest) = splitFields(line, count: timeFields), let (words, after) = splitFields(rest, count: 1) else { continue }
            lines.append((words[0], splitFields(after, count: 1)?.fields.first))
        }
        guard !lines.isEmpty else { return CrontabKindDecision(kind: .user, reason: "it has no schedule lines") }
        let evidence = lines.filter { isSystemLine(sixth: $0.sixth, seventh: $0.seventh) }.count
        if evidence * 2 > lines.count {
            return CrontabKindDecision(
                kind: .system,
                reason:
                    "\(evidence) of its \(lines.count) line(s) read as USER COMMAND (a user name, then a command), as in /etc/crontab and /etc/cron.d"
            )
        }
        // The same user on every line, each followed by a path or a command: one account's cron.d file.
        if lines.count >= 2, let user = lines.first?.sixth, isUserName(user), !knownCommands.contains(user),
            lines.allSatisfy({ $0.sixth == user && $0.seventh.map(startsCommand) == true })
        {
            return CrontabKindDecision(
                kind: .system, reason: "every line starts with \(user) and a command, as a system crontab names the user")
        }
        return CrontabKindDecision(
            kind: .user,
            reason: "its lines read as five time fields and a command; pass --system if the sixth field is the user (an /etc/cron.d file)")
    }

    /// A comment such as `# m h dom mon dow user command` or `# * * * * * user-name command to be executed`.
    static func commentNamesUserColumn(_ comment: String) -> Bool {
        let words = comment.dropFirst().lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let user = words.firstIndex(where: { $0 == "user" || $0 == "user-name" || $0 == "username" }),
            let command = words.firstIndex(of: "command"), user < command
        else { return false }
        return words[..<user].contains { $0 == "dow" || $0 == "*" || $0 == "day-of-week" }
    }

    /// A line whose sixth field is very likely a user: a user name cron installs (`root`, `www-data`) or a user
    /// name followed by a word that starts a command, and not followed by an option (`mysql -e ...` is a command).
    static func isSystemLine(sixth: String, seventh: String?) -> Bool {
        guard let seventh, isUserName(sixth), !seventh.hasPrefix("-") else { return false }
        if systemAccounts.contains(sixth) { return true }
        if knownCommands.contains(sixth) { return false }
        return knownCommands.contains(CrontabJobName.stem(seventh)) || CrontabJobName.isAssignment(seventh) || seventh.hasPrefix("(")
    }

    static func startsCommand(_ word: String) -> Bool {
        word.hasPrefix("/") || word.hasPrefix("./") || word.hasPrefix("~/") || word.hasPrefix("$")
            || knownCommands.contains(CrontabJobName.stem(word)) || CrontabJobName.isAssignment(word)
    }

    /// A name cron would look up as a user: the portable user-name characters (letters, digits, `_`, `.`, `-`,
    /// not first), at most 32 characters, as useradd accepts them.
    static func isUserName(_ word: String) -> Bool {
        guard (1...32).contains(word.count), let first = word.first, first.isASCII, first.isLetter || first == "_" else { return false }
        let body = word.hasSuffix("$") ? word.dropLast() : Substring(word)
        return body.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
    }

    /// Accounts that distributions and packages create, whose name is not also a program run with an argument
    /// that is not an option.
    static let systemAccounts: Set<String> = [
        "root", "www-data", "wwwrun", "www", "nobody", "daemon", "apache", "nginx", "httpd", "postgres", "mysql",
        "ubuntu", "ec2-user", "centos", "debian", "jenkins", "tomcat", "nagios", "zabbix", "operator",
    ]

    /// Words that start commands: a sixth field that is one of them is the command of a user crontab.
    static let knownCommands: Set<String> = CrontabJobName.setUpCommands
        .union(CrontabJobName.wrappers.keys)
        .union(CrontabJobName.taskRunners)
        .union(CrontabJobName.scriptRunners)
        .union([
            "php", "python", "python2", "python3", "pypy", "ruby", "perl", "node", "nodejs", "deno", "bun", "bash", "sh",
            "zsh", "dash", "ksh", "su", "java", "run-parts", "curl", "wget", "rsync", "find", "tar", "gzip", "zip",
            "mysqldump", "pg_dump", "psql", "docker", "kubectl", "aws", "cp", "mv", "rm", "ls", "cat", "git",
            "systemctl", "service", "logrotate", "certbot", "ruby", "ssh", "scp", "tmpreaper", "tmpwatch", "updatedb",
        ])
}

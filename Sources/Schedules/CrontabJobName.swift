import Foundation

/// The name of a schedule, taken from what its crontab command does: `cd /srv/app && php artisan batch:nightly`
/// is `batch-nightly`, not `cd` or `php`.
///
/// The command is read as the shell reads it, as far as naming needs: words (with quotes and escapes), the
/// operators that join simple commands (`&&`, `||`, `;`, `|`, `&`, parentheses) and redirections. The job is the
/// first simple command that is not set-up (`cd DIR`, `export`, `sleep N`, a `test` guard, ...) and not a filter
/// behind a pipe; within it, variable assignments and wrappers (`sudo -u`, `env`, `nice`, `timeout N`,
/// `flock LOCK`, ...) are skipped, an interpreter gives way to its script or module, and a task runner (`artisan`,
/// `bin/console`, `manage.py`, `rake`, `npm run`, `make`, `run-parts`, ...) to the task it runs.
enum CrontabJobName {
    /// EventBridge Scheduler's schedule names: `^[0-9a-zA-Z-_.]+$`, 1 to 64 characters (the botocore model's
    /// `Name` shape). The name is kept shorter, leaving room for the `-dom`/`-dow` and `-2` suffixes that keep
    /// names unique.
    static let maximumBaseLength = 56

    /// The schedule name for `command`: the job's meaningful word, in Scheduler's characters; `job` when the
    /// command has none.
    static func name(forCommand command: String) -> String {
        sanitized(meaningfulWord(command, depth: 0) ?? "job")
    }

    /// `word` in Scheduler's characters: others become `-` (`batch:nightly` → `batch-nightly`), runs of `-`
    /// collapse, and `-` or `.` at either end go.
    static func sanitized(_ word: String) -> String {
        var out = ""
        for character in word {
            let allowed = character.isASCII && (character.isLetter || character.isNumber || "-_.".contains(character))
            let next: Character = allowed ? character : "-"
            if next == "-" && out.last == "-" { continue }
            out.append(next)
        }
        let ends = CharacterSet(charactersIn: "-.")
        let name = String(out.trimmingCharacters(in: ends).prefix(maximumBaseLength)).trimmingCharacters(in: ends)
        return name.isEmpty ? "job" : name
    }

    // MARK: Shell words

    enum Token: Equatable {
        case word(String)
        /// `&&`, `||`, `;`, `&`, `(`, `)`, newline: the end of a simple command.
        case separator
        /// `|`: the end of a simple command whose output the next one reads.
        case pipe
        /// `>`, `>>`, `<`, `2>`, `&>`, `2>&1`, ...; `takesWord` when the file is the next word.
        case redirection(takesWord: Bool)
    }

    /// The shell tokens of `text`. Quotes group words and disappear; `$(...)` and backquotes stay inside the word
    /// they are part of.
    static func tokens(_ text: String) -> [Token] {
        var tokens: [Token] = []
        var word = ""
        var inWord = false
        var characters = Array(text)[...]
        func endWord() {
            if inWord { tokens.append(.word(word)) }
            word = ""
            inWord = false
        }
        while let c = characters.popFirst() {
            switch c {
            case " ", "\t":
                endWord()
            case "\n", ";", "(", ")":
                endWord()
                tokens.append(.separator)
            case "&":
                if characters.first == "&" {
                    characters.removeFirst()
                    endWord()
                    tokens.append(.separator)
                } else if characters.first == ">" {
                    characters.removeFirst()
                    if characters.first == ">" { characters.removeFirst() }
                    endWord()
                    tokens.append(.redirection(takesWord: true))
                } else {
                    endWord()
                    tokens.append(.separator)
                }
            case "|":
                endWord()
                if characters.first == "|" {
                    characters.removeFirst()
                    tokens.append(.separator)
                } else {
                    tokens.append(.pipe)
                }
            case ">", "<":
                // A file descriptor number just before (2>) belongs to the redirection, not to a word.
                if inWord && !word.allSatisfy(\.isNumber) { endWord() }
                word = ""
                inWord = false
                while characters.first == ">" || characters.first == "<" { characters.removeFirst() }
                if characters.first == "&" {
                    // 2>&1, >&2: the target is a descriptor, written here.
                    characters.removeFirst()
                    while let d = characters.first, d.isNumber || d == "-" { characters.removeFirst() }
                    tokens.append(.redirection(takesWord: false))
                } else {
                    tokens.append(.redirection(takesWord: true))
                }
            case "$" where characters.first == "(":
                // $(...) and $((...)): a substitution is part of the word, parentheses and all.
                inWord = true
                word.append(c)
                var depth = 0
                while let q = characters.popFirst() {
                    word.append(q)
                    if q == "(" { depth += 1 } else if q == ")" { depth -= 1; if depth == 0 { break } }
                }
            case "`":
                inWord = true
                word.append(c)
                while let q = characters.popFirst() {
                    word.append(q)
                    if q == "`" { break }
                }
            case "'":
                inWord = true
                while let q = characters.popFirst(), q != "'" { word.append(q) }
            case "\"":
                inWord = true
                while let q = characters.popFirst(), q != "\"" {
                    if q == "\\", let escaped = characters.popFirst() { word.append(escaped) } else { word.append(q) }
                }
            case "\\":
                inWord = true
                if let escaped = characters.popFirst() { word.append(escaped) }
            default:
                inWord = true
                word.append(c)
            }
        }
        endWord()
        return tokens
    }

    /// The simple commands of `text`, each with whether it reads the output of a pipe; redirections and their
    /// files are gone.
    static func simpleCommands(_ text: String) -> [(words: [String], afterPipe: Bool)] {
        var commands: [(words: [String], afterPipe: Bool)] = []
        var words: [String] = []
        var afterPipe = false
        var skipNextWord = false
        func end(pipe: Bool) {
            if !words.isEmpty { commands.append((words, afterPipe)) }
            words = []
            afterPipe = pipe
        }
        for token in tokens(text) {
            switch token {
            case .word(let word):
                if skipNextWord { skipNextWord = false } else { words.append(word) }
            case .redirection(let takesWord):
                skipNextWord = takesWord
            case .separator:
                end(pipe: false)
            case .pipe:
                end(pipe: true)
            }
        }
        end(pipe: false)
        return commands
    }

    // MARK: The job of a command

    /// Commands that prepare for the job rather than being it.
    static let setUpCommands: Set<String> = [
        "cd", "pushd", "popd", "export", "source", ".", "set", "unset", "umask", "ulimit", "sleep", "test", "[", "[[",
        "true", "false", ":", "echo", "printf", "mkdir", "touch", "date", "renice", "trap", "shopt", "wait", "logger",
    ]
    /// Shell keywords in front of a command (`if`, `then cmd`, `! cmd`).
    static let keywords: Set<String> = ["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "{", "}", "!", "time"]

    /// Wrappers that run the command after their own options and arguments: how many arguments come before it,
    /// and which options take a value.
    struct Wrapper {
        var positionalArguments: Int
        var optionsWithValue: Set<String>
    }

    static let wrappers: [String: Wrapper] = [
        "sudo": Wrapper(positionalArguments: 0, optionsWithValue: ["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-R", "-T"]),
        "doas": Wrapper(positionalArguments: 0, optionsWithValue: ["-u", "-C"]),
        "runuser": Wrapper(positionalArguments: 0, optionsWithValue: ["-u", "-g", "-G", "-s"]),
        "env": Wrapper(positionalArguments: 0, optionsWithValue: ["-u", "-C", "-S"]),
        "nice": Wrapper(positionalArguments: 0, optionsWithValue: ["-n"]),
        "ionice": Wrapper(positionalArguments: 0, optionsWithValue: ["-c", "-n", "-p", "-P", "-u"]),
        "chrt": Wrapper(positionalArguments: 1, optionsWithValue: []),
        "taskset": Wrapper(positionalArguments: 1, optionsWithValue: []),
        "timeout": Wrapper(positionalArguments: 1, optionsWithValue: ["-s", "-k"]),
        "flock": Wrapper(positionalArguments: 1, optionsWithValue: ["-w", "-E", "--timeout", "--conflict-exit-code"]),
        "setlock": Wrapper(positionalArguments: 1, optionsWithValue: []),
        "lockrun": Wrapper(positionalArguments: 0, optionsWithValue: ["-L", "--lockfile"]),
        "run-one": Wrapper(positionalArguments: 0, optionsWithValue: []),
        "nohup": Wrapper(positionalArguments: 0, optionsWithValue: []),
        "exec": Wrapper(positionalArguments: 0, optionsWithValue: ["-a"]),
        "command": Wrapper(positionalArguments: 0, optionsWithValue: []),
        "builtin": Wrapper(positionalArguments: 0, optionsWithValue: []),
        "chronic": Wrapper(positionalArguments: 0, optionsWithValue: []),
        "cronic": Wrapper(positionalArguments: 0, optionsWithValue: []),
        "setsid": Wrapper(positionalArguments: 0, optionsWithValue: []),
        "stdbuf": Wrapper(positionalArguments: 0, optionsWithValue: ["-i", "-o", "-e"]),
        "bundle": Wrapper(positionalArguments: 0, optionsWithValue: []),  // bundle exec CMD: `exec` is skipped below
        "npx": Wrapper(positionalArguments: 0, optionsWithValue: ["-p", "--package"]),
    ]

    /// Interpreters: the word that names the job is their script (or module), not them. Options that take a value
    /// are skipped with it; `codeOptions` run code given on the command line (no script to name the job by).
    struct Interpreter {
        var optionsWithValue: Set<String>
        var moduleOption: String?
        var codeOptions: Set<String>
        var shellCommandOption: String?
    }

    static func interpreter(_ program: String) -> Interpreter? {
        // python3.12, php8.1, pypy3: the version is not part of the interpreter's name.
        var family = Substring(program)
        while let last = family.last, last.isNumber || last == "." { family.removeLast() }
        switch family {
        case "php":
            return Interpreter(optionsWithValue: ["-d", "-c", "-z"], moduleOption: nil, codeOptions: ["-r"], shellCommandOption: nil)
        case "python", "pypy":
            return Interpreter(optionsWithValue: ["-W", "-X", "-Q"], moduleOption: "-m", codeOptions: ["-c"], shellCommandOption: nil)
        case "ruby", "jruby":
            return Interpreter(optionsWithValue: ["-r", "-I", "-C", "-E"], moduleOption: nil, codeOptions: ["-e"], shellCommandOption: nil)
        case "perl":
            return Interpreter(
                optionsWithValue: ["-I", "-M", "-m"], moduleOption: nil, codeOptions: ["-e", "-E"], shellCommandOption: nil)
        case "node", "nodejs", "deno", "bun", "tsx", "ts-node":
            return Interpreter(
                optionsWithValue: ["-r", "--require", "--import"], moduleOption: nil, codeOptions: ["-e", "--eval", "-p"],
                shellCommandOption: nil)
        case "bash", "sh", "zsh", "dash", "ksh", "ash", "fish":
            return Interpreter(optionsWithValue: ["-o", "-O"], moduleOption: nil, codeOptions: [], shellCommandOption: "-c")
        case "su":
            return Interpreter(
                optionsWithValue: ["-s", "-g", "-G", "--shell"], moduleOption: nil, codeOptions: [], shellCommandOption: "-c")
        case "java":
            return Interpreter(
                optionsWithValue: ["-cp", "-classpath", "--class-path"], moduleOption: "-jar", codeOptions: [], shellCommandOption: nil)
        default: return nil
        }
    }

    /// Task runners: the job is the task they are given (`php artisan batch:nightly` → `batch:nightly`).
    static let taskRunners: Set<String> = [
        "artisan", "console", "manage", "yii", "drush", "wp", "rake", "rails", "cake", "think", "spark",
        "make", "gmake", "just", "invoke", "fab", "gradle", "gradlew", "mvn", "ant", "grunt", "gulp", "celery", "flask",
        "django-admin", "symfony", "n98-magerun", "n98-magerun2", "magento",
    ]
    /// Package-manager script runners: `npm run build`, `yarn build`, `composer run-script x`.
    static let scriptRunners: Set<String> = ["npm", "yarn", "pnpm", "composer"]
    /// Script extensions left out of names (`/app/nightly.sh` → `nightly`).
    static let scriptExtensions: Set<String> = ["sh", "bash", "php", "py", "rb", "pl", "js", "mjs", "cjs", "ts", "jar", "phar", "ps1"]

    /// The base name of a path without a script extension.
    static func stem(_ path: String) -> String {
        var name = path.split(separator: "/").last.map(String.init) ?? path
        if let dot = name.lastIndex(of: "."), dot != name.startIndex,
            scriptExtensions.contains(String(name[name.index(after: dot)...]).lowercased())
        {
            name = String(name[..<dot])
        }
        return name
    }

    static func isAssignment(_ word: String) -> Bool {
        guard let eq = word.firstIndex(of: "="), eq != word.startIndex else { return false }
        let name = word[..<eq]
        return name.first.map { $0.isLetter || $0 == "_" } == true
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    static func meaningfulWord(_ command: String, depth: Int) -> String? {
        // `sh -c "..."` inside `sh -c "..."`: a few levels say all a name needs.
        guard depth < 4 else { return nil }
        let commands = simpleCommands(command).map { (words: Array($0.words.drop { keywords.contains($0) }), afterPipe: $0.afterPipe) }
            .filter { !$0.words.isEmpty }
        // The job is the first command that is neither set-up nor a filter of another's output; failing that, the
        // first command there is.
        let candidates = commands.filter { !$0.afterPipe } + commands.filter(\.afterPipe)
        for candidate in candidates {
            if let word = job(of: candidate.words, depth: depth) { return word }
        }
        // Set-up only (`echo ok > /tmp/alive`): the first program.
        return commands.first.flatMap { $0.words.first { !isAssignment($0) } }.map(stem)
    }

    /// The meaningful word of one simple command; nil when it is set-up.
    static func job(of words: [String], depth: Int) -> String? {
        var rest = words[...]
        while let first = rest.first, isAssignment(first) { rest.removeFirst() }
        while let first = rest.first {
            let program = stem(first)
            if setUpCommands.contains(program) || setUpCommands.contains(first) { return nil }
            if let wrapper = wrappers[program] {
                rest.removeFirst()
                skipOptions(&rest, withValue: wrapper.optionsWithValue, allowAssignments: program == "env")
                if program == "bundle", rest.first == "exec" { rest.removeFirst() }
                if program == "flock", let c = rest.firstIndex(where: { $0 == "-c" || $0 == "--command" }), c + 1 < rest.endIndex {
                    return meaningfulWord(rest[c + 1], depth: depth + 1)
                }
                rest = rest.dropFirst(wrapper.positionalArguments)
                if rest.first == "--" { rest.removeFirst() }
                continue
            }
            if let interpreter = interpreter(program) {
                return interpreterJob(program: program, arguments: Array(rest.dropFirst()), interpreter: interpreter, depth: depth)
            }
            return taskOrProgram(program: program, arguments: Array(rest.dropFirst()))
        }
        return nil
    }

    /// Drops options (and the values of those in `withValue`) from the front of `words`, up to and with `--`.
    static func skipOptions(_ words: inout ArraySlice<String>, withValue: Set<String>, allowAssignments: Bool = false) {
        while let first = words.first {
            if first == "--" { words.removeFirst(); return }
            if allowAssignments && isAssignment(first) { words.removeFirst(); continue }
            guard first.hasPrefix("-"), first.count > 1 else { return }
            words.removeFirst()
            if withValue.contains(first), !words.isEmpty { words.removeFirst() }
        }
    }

    static func interpreterJob(program: String, arguments: [String], interpreter: Interpreter, depth: Int) -> String? {
        var rest = arguments[...]
        while let first = rest.first, first.hasPrefix("-"), first.count > 1 {
            rest.removeFirst()
            if first == "--" { break }
            if isShellCommandOption(first, interpreter), let script = rest.first { return meaningfulWord(script, depth: depth + 1) }
            if first == interpreter.moduleOption, let module = rest.first {
                // python -m pkg.jobs.cleanup → cleanup; java -jar /opt/report.jar → report
                return module.hasSuffix(".jar") || module.contains("/") ? stem(module) : String(module.split(separator: ".").last ?? "")
            }
            if interpreter.codeOptions.contains(first) { return stem(program) }
            if interpreter.optionsWithValue.contains(first) { _ = rest.popFirst() }
            // `-f file` (php) is the script itself: the next word is read as the script below.
        }
        // su USER -c CMD: the user comes before the option.
        if let c = rest.firstIndex(where: { isShellCommandOption($0, interpreter) }), c + 1 < rest.endIndex {
            return meaningfulWord(rest[c + 1], depth: depth + 1)
        }
        guard let script = rest.first else { return stem(program) }
        if program == "java" { return stem(script.split(separator: ".").last.map(String.init) ?? script) }
        return taskOrProgram(program: stem(script), arguments: Array(rest.dropFirst()))
    }

    /// `-c`, also among other flags (`bash -lc 'cmd'`).
    static func isShellCommandOption(_ word: String, _ interpreter: Interpreter) -> Bool {
        guard let option = interpreter.shellCommandOption else { return false }
        return word == option || option == "-c" && word.hasPrefix("-") && !word.hasPrefix("--") && word.dropFirst().contains("c")
    }

    /// Options of task runners that take a value (`make -C /srv/app backup`, `celery -A proj beat`).
    static let taskRunnerOptionsWithValue: Set<String> = [
        "-C", "-f", "--file", "--directory", "-j", "-A", "--app", "--settings", "--pythonpath",
    ]

    /// A task runner's task (`artisan batch:nightly`), a script runner's script (`npm run build`), `run-parts`'s
    /// directory (`run-parts /etc/cron.daily` → `cron.daily`), else the program itself.
    static func taskOrProgram(program: String, arguments: [String]) -> String {
        func firstArgument(after skipped: Set<String> = []) -> String? {
            var rest = arguments[...]
            while let word = rest.popFirst() {
                if taskRunnerOptionsWithValue.contains(word) { _ = rest.popFirst(); continue }
                if !word.hasPrefix("-") && !isAssignment(word) && !skipped.contains(word) { return word }
            }
            return nil
        }
        // `rails runner 'Reports::Daily.call'`: the code it runs says more than `runner`.
        if taskRunners.contains(program), let task = firstArgument(after: ["runner"]) { return task }
        if scriptRunners.contains(program), let script = firstArgument(after: ["run", "run-script", "exec"]) { return script }
        if program == "run-parts", let directory = arguments.last(where: { !$0.hasPrefix("-") }) { return stem(directory) }
        return program
    }
}

import Foundation
import TaskRunners

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The terminal `skiff exec -t` and `session-manager-plugin` run in: put in raw mode while a session runs, so that
/// each keystroke (Ctrl-C and Ctrl-D included) goes to the remote command as typed and the remote terminal echoes it,
/// and restored on every way out: the session's end, an error, and a signal that ends the program.
enum LocalTerminal {
    /// The settings to restore, kept where a signal handler can reach them without a lock.
    nonisolated(unsafe) private static var saved = termios()
    nonisolated(unsafe) private static var savedDescriptor: Int32 = -1

    /// Signals that end the program by default, after which the terminal must not stay raw.
    private static let endingSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE]

    /// Puts the terminal on `descriptor` in raw mode; false when it is not a terminal (nothing changes then).
    static func enterRawMode(_ descriptor: Int32 = STDIN_FILENO) -> Bool {
        guard isatty(descriptor) == 1 else { return false }
        var settings = termios()
        guard tcgetattr(descriptor, &settings) == 0 else { return false }
        saved = settings
        savedDescriptor = descriptor
        // Before the change, so that no signal finds the terminal raw with nothing to restore it.
        for signal in endingSignals { installRestoringHandler(signal) }
        atexit { LocalTerminal.restore() }
        cfmakeraw(&settings)
        // Output keeps its own line handling (the remote terminal already turned \n into \r\n).
        return tcsetattr(descriptor, TCSAFLUSH, &settings) == 0
    }

    /// Restores the terminal's settings; safe in a signal handler (`tcsetattr` is async-signal-safe).
    static func restore() {
        guard savedDescriptor >= 0 else { return }
        _ = tcsetattr(savedDescriptor, TCSAFLUSH, &saved)
    }

    /// A handler that restores the terminal and lets the signal end the program as it would have. A signal the program
    /// ignores stays ignored: the AWS CLI runs the plugin with SIGINT ignored, so that Ctrl-C reaches the remote command.
    private static func installRestoringHandler(_ number: Int32) {
        var current = sigaction()
        guard sigaction(number, nil, &current) == 0 else { return }
        #if canImport(Glibc)
            let handler = current.__sigaction_handler.sa_handler
        #else
            let handler = current.__sigaction_u.__sa_handler
        #endif
        let ignored = handler.map { unsafeBitCast($0, to: Int.self) } == 1  // SIG_IGN is the handler address 1
        guard !ignored else { return }
        _ = signal(number) { received in
            LocalTerminal.restore()
            _ = signal(received, SIG_DFL)
            _ = raise(received)
        }
    }

    /// The size of the terminal on `descriptor`, if it is one.
    static func size(_ descriptor: Int32) -> TerminalSize? {
        var cells = winsize()
        guard isatty(descriptor) == 1, ioctl(descriptor, UInt(TIOCGWINSZ), &cells) == 0, cells.ws_row > 0, cells.ws_col > 0 else {
            return nil
        }
        return TerminalSize(rows: Int(cells.ws_row), columns: Int(cells.ws_col))
    }

    /// The size of the terminal the user sees: standard output's, else standard input's, else standard error's.
    static var currentSize: TerminalSize? {
        size(STDOUT_FILENO) ?? size(STDIN_FILENO) ?? size(STDERR_FILENO)
    }

    /// Calls `changed` with the terminal's new size each time it is resized (SIGWINCH). Keep the source while it applies.
    static func onResize(_ changed: @escaping @Sendable (TerminalSize) -> Void) -> any DispatchSourceSignal {
        let source = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: .global())
        source.setEventHandler {
            if let size = LocalTerminal.currentSize { changed(size) }
        }
        source.resume()
        return source
    }
}

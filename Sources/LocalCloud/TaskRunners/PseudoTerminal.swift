import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A terminal's size in character cells, as `TIOCSWINSZ` sets it and `stty size` shows it.
public struct TerminalSize: Sendable, Equatable, CustomStringConvertible {
    public var rows: Int
    public var columns: Int

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
    }

    /// What a terminal emulator opens with, and what a session gets before its client says otherwise.
    public static let standard = TerminalSize(rows: 24, columns: 80)

    public var description: String { "\(columns)x\(rows)" }

    /// The size clamped to what `winsize` holds; zero means unknown to programs, so it becomes 1.
    var cells: (rows: UInt16, columns: UInt16) {
        (UInt16(clamping: max(rows, 1)), UInt16(clamping: max(columns, 1)))
    }
}

/// A pseudo-terminal pair: the server keeps the controlling side (the master), the command gets the terminal device
/// (`/dev/pts/N`) as its standard streams and controlling terminal, as `docker exec -t` and the SSM agent give it one.
///
/// The functions come from the C library by name: Swift's Glibc module leaves out `posix_openpt` and its
/// companions, which glibc declares only for X/Open.
struct PseudoTerminal {
    /// The master side, close-on-exec and non-blocking: what the command writes is read here, what is written here
    /// is the command's input, and closing it hangs the terminal up (SIGHUP to the command's foreground).
    let master: Int32
    /// The terminal device the command opens.
    let devicePath: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func open(size: TerminalSize) throws(Failure) -> PseudoTerminal {
        guard let functions = Functions.shared else {
            throw Failure(description: "this system has no pseudo-terminals (posix_openpt)")
        }
        let master = functions.openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw Failure(description: "cannot open a pseudo-terminal: \(String(cString: strerror(errno)))") }
        var name = [CChar](repeating: 0, count: 256)
        guard functions.grantpt(master) == 0, functions.unlockpt(master) == 0,
            functions.ptsname(master, &name, name.count) == 0
        else {
            let reason = String(cString: strerror(errno))
            close(master)
            throw Failure(description: "cannot prepare a pseudo-terminal: \(reason)")
        }
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        let path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let terminal = PseudoTerminal(master: master, devicePath: path)
        terminal.resize(size)
        return terminal
    }

    /// Sets the terminal's size; the kernel sends SIGWINCH to the terminal's foreground process group.
    func resize(_ size: TerminalSize) {
        var cells = winsize()
        (cells.ws_row, cells.ws_col) = size.cells
        _ = ioctl(master, UInt(TIOCSWINSZ), &cells)
    }

    private struct Functions {
        typealias Descriptor = @convention(c) (Int32) -> Int32
        typealias Name = @convention(c) (Int32, UnsafeMutablePointer<CChar>, Int) -> Int32
        let openpt: Descriptor
        let grantpt: Descriptor
        let unlockpt: Descriptor
        let ptsname: Name

        static let shared: Functions? = {
            guard let openpt = dlsym(nil, "posix_openpt"), let grantpt = dlsym(nil, "grantpt"),
                let unlockpt = dlsym(nil, "unlockpt"), let ptsname = dlsym(nil, "ptsname_r")
            else { return nil }
            return Functions(
                openpt: unsafeBitCast(openpt, to: Descriptor.self), grantpt: unsafeBitCast(grantpt, to: Descriptor.self),
                unlockpt: unsafeBitCast(unlockpt, to: Descriptor.self), ptsname: unsafeBitCast(ptsname, to: Name.self))
        }()
    }
}

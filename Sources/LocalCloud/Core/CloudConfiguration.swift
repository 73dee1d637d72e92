/// Settings of a running local cloud.
public struct CloudConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Folder of the SQLite database and of anything else the cloud keeps; nil keeps everything in memory.
    public var stateDirectory: String?
    /// Account of access keys that are not mapped to another.
    public var defaultAccountId: String
    /// Region of requests that carry no signature.
    public var defaultRegion: String
    /// Access key → account. Unknown keys belong to `defaultAccountId`.
    public var accounts: [String: String]
    /// Largest request body accepted, in bytes.
    public var maximumRequestBytes: Int
    /// Image name → local directory, for tasks run as local processes (`skiff up --image-map php-app=./jobs`,
    /// `SKIFF_IMAGE_PHP_APP=./jobs`). Directories are absolute.
    public var imageDirectories: [String: String] = [:]
    /// The container engine's command line (`docker`, `podman`) for images with no directory; nil for none.
    public var containerEngine: String? = "docker"
    /// Host names requests may be addressed to besides loopback addresses, `localhost` and `host`
    /// (`skiff up --allowed-host`): see ``RequestOriginPolicy``.
    public var allowedHosts: [String] = []
    /// Web origins whose pages may call the API (`skiff up --allowed-origin http://localhost:3000`); the local
    /// cloud's own origin always may.
    public var allowedOrigins: [String] = []
    /// How long a request may take to arrive, from its first byte to its last; past it the client is answered
    /// `RequestTimeout` and the connection closed.
    public var requestReadTimeout: Duration = .seconds(20)
    /// How long a connection may stay open with no request under way before the server closes it.
    public var idleConnectionTimeout: Duration = .seconds(60)
    /// Connections served at once; a connection past it is answered 503 and closed.
    public var maximumConnections: Int = 512
    /// Request bodies held in memory at once, over all connections; a request whose body would go past it is
    /// answered 503 `SlowDown` (which the SDKs retry) and its body dropped as it arrives.
    public var maximumBufferedRequestBytes: Int = 32 * 1024 * 1024

    public init(
        host: String = "127.0.0.1", port: Int = 4566, stateDirectory: String? = ".skiff",
        defaultAccountId: String = "000000000000", defaultRegion: String = "us-east-1",
        accounts: [String: String] = [:], maximumRequestBytes: Int = 10 * 1024 * 1024
    ) {
        self.host = host
        self.port = port
        self.stateDirectory = stateDirectory
        self.defaultAccountId = defaultAccountId
        self.defaultRegion = defaultRegion
        self.accounts = accounts
        self.maximumRequestBytes = maximumRequestBytes
    }
}

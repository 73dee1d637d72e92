import Testing

@testable import LocalCloud

@Suite struct StartupCodeTests {
    @Test func onlyExecutableFileMappingsAreGivenBack() {
        #expect(
            ExecutableRegion(mapsLine: "55d0c0a00000-55d0c2a00000 r-xp 00200000 fd:01 1234  /usr/local/bin/skiff\n")
                == ExecutableRegion(start: 0x55d0c0a00000, end: 0x55d0c2a00000))
        for line in [
            "55d0c2a00000-55d0c2b00000 r--p 02200000 fd:01 1234  /usr/local/bin/skiff",  // relocated read-only data
            "55d0c2b00000-55d0c2c00000 rw-p 02300000 fd:01 1234  /usr/local/bin/skiff",  // data
            "7ffd1b5f0000-7ffd1b5f2000 r-xp 00000000 00:00 0  [vdso]",
            "7f0000000000-7f0000021000 rwxp 00000000 00:00 0 ",  // anonymous
            "not a maps line",
        ] {
            #expect(ExecutableRegion(mapsLine: line) == nil, "\(line)")
        }
    }

    @Test func theProcessRunsOnAfterItsCodeIsGivenBack() {
        StartupCode.release()
        // Code runs again from pages mapped back on first use.
        #expect([3, 1, 2].sorted() == [1, 2, 3])
    }

    @Test func theServerIsQuietOnlyWithNoRequestUnderWayForThePeriod() async throws {
        let activity = RequestActivity()
        #expect(activity.isQuiet(for: .milliseconds(50)))
        activity.begin()
        #expect(!activity.isQuiet(for: .zero))
        activity.end()
        #expect(!activity.isQuiet(for: .seconds(60)))
        try await Task.sleep(for: .milliseconds(60))
        #expect(activity.isQuiet(for: .milliseconds(50)))
    }
}

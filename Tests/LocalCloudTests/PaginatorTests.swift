import AWSProtocol
import Foundation
import Testing

@testable import LocalCloud

@Suite struct PaginatorTests {
    let pages = Paginator(invalidToken: AWSError("InvalidToken", "Invalid Token"), defaultPageSize: 2)

    @Test func pagesFollowTheKeyOrderAndEndWithoutAToken() throws {
        let names = ["d", "b", "a", "c", "e"]
        var listed: [String] = []
        var token: String?
        repeat {
            let page = try pages.page(names, maxResults: nil, nextToken: token) { PageKey($0) }
            listed += page.items
            token = page.nextToken
        } while token != nil
        #expect(listed == ["a", "b", "c", "d", "e"])
    }

    @Test func descendingPagesAndAnExactLastPage() throws {
        let numbers = [1, 2, 3, 4]
        let first = try pages.page(numbers, maxResults: 2, nextToken: nil, descending: true) { PageKey(PageKey.number($0)) }
        #expect(first.items == [4, 3])
        let second = try pages.page(numbers, maxResults: 2, nextToken: first.nextToken, descending: true) { PageKey(PageKey.number($0)) }
        #expect(second.items == [2, 1])
        #expect(second.nextToken == nil)
    }

    @Test func itemsAddedOrRemovedBetweenCallsNeitherRepeatNorSkipOthers() throws {
        let first = try pages.page(["a", "c", "e"], maxResults: 2, nextToken: nil) { PageKey($0) }
        #expect(first.items == ["a", "c"])
        // "b" is created before the last listed key and "c" deleted: the next page starts after "c" all the same.
        let second = try pages.page(["a", "b", "d", "e"], maxResults: 2, nextToken: first.nextToken) { PageKey($0) }
        #expect(second.items == ["d", "e"])
    }

    @Test func numbersAndTimesSortAsNumbers() {
        #expect(PageKey(PageKey.number(9)) < PageKey(PageKey.number(10)))
        #expect(PageKey(PageKey.time(Date(timeIntervalSince1970: 9))) < PageKey(PageKey.time(Date(timeIntervalSince1970: 10))))
        // Parts compare in turn: a shorter first part is not cut into the second.
        #expect(PageKey("a", "z") < PageKey("ab", "a"))
        #expect(PageKey(PageKey.number(42), "x").number(at: 0) == 42)
        #expect(PageKey("42").number(at: 0) == nil)
    }

    @Test func aStorePageCutsTheItemPastThePage() {
        let page = pages.page(fetched: ["a", "b", "c"], size: 2) { PageKey($0) }
        #expect(page.items == ["a", "b"])
        #expect(page.nextToken == PageKey("b").token)
        #expect(pages.page(fetched: ["a", "b"], size: 2) { PageKey($0) }.nextToken == nil)
    }

    @Test func sizesAsAWSReadsThem() {
        #expect(pages.size(nil) == 2)
        #expect(pages.size(0) == 2)
        #expect(pages.size(7) == 7)
    }

    @Test func aTokenSkiffDidNotIssueIsTheServicesOwnError() throws {
        for token in ["", "not base64!", Data("offset:2".utf8).base64EncodedString()] {
            #expect(throws: AWSError("InvalidToken", "Invalid Token")) { try pages.start(token) }
        }
        #expect(try pages.start(nil) == nil)
        #expect(try pages.start(PageKey("a", "b").token) == PageKey("a", "b"))
    }
}

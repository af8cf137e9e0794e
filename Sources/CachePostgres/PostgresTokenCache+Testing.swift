import CacheBackends
import Foundation

extension PostgresTokenCache {
    /// Waits until this instance's L1 has received every notification committed before
    /// the call (for tests that read right after another instance's write): sends a marker
    /// on the channel and waits for it to come back. `false` if it did not within
    /// `timeout`; `true` at once without a serving L1.
    package func synchronizeL1(timeout: Duration = .seconds(5)) throws -> Bool {
        guard let l1, l1.isServing() else { return true }
        let marker = PostgresL1Cache.markerPrefix + UUID().uuidString
        try rows.withConnection { database in
            try database.link.query("SELECT pg_notify($1, $2)", [.text(PostgresDatabase.channel), .text(marker)])
        }
        return l1.waitForMarker(marker, timeout: timeout)
    }

    /// Whether the L1 serves now (for tests).
    package var l1ServingForTests: Bool { l1?.isServingNow ?? false }
}

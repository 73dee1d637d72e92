import LocalCloud
import SchedulerService
import STSService

/// Every service the local cloud serves, built on one environment.
enum ServiceCatalog {
    static func services(environment: ServiceEnvironment) throws -> [any LocalService] {
        [
            STSService(),
            SchedulerService(environment: environment),
        ]
    }
}

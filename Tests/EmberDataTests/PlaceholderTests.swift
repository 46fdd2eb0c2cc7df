import Testing
@testable import EmberData

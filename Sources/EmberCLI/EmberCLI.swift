@_exported import EmberMetrics
@_exported import EmberTrain

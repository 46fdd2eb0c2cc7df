// The umbrella module: `import Ember` brings the whole framework.
@_exported import EmberCore
@_exported import EmberData
@_exported import EmberNN
@_exported import EmberIO
@_exported import EmberTrain
@_exported import EmberMetrics
@_exported import EmberTrack
@_exported import EmberONNX
@_exported import EmberUnsupervised

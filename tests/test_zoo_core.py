"""The first zoo, layer by layer, against numbers worked out by hand.

conv: O = (N + 2P − F)/S + 1, params = F·F·C·K + K, MACs = Oh·Ow·K · F·F·C
dense: params = (n_in + 1)·n_out, MACs = n_in·n_out
"""
import archcalc

# AlexNet, 227×227×3 channels-last: (name, output shape as written (H, W, C), params, MACs)
ALEXNET = [
    ("conv1", (55, 55, 96), 34_944, 105_415_200),     # (227 − 11)/4 + 1 = 55; 11·11·3·96 + 96; 55·55·96 · 363
    ("conv1_relu", (55, 55, 96), 0, 0),
    ("norm1", (55, 55, 96), 0, 0),
    ("pool1", (27, 27, 96), 0, 0),                    # (55 − 3)/2 + 1 = 27
    ("conv2", (27, 27, 256), 614_656, 447_897_600),   # (27 + 4 − 5) + 1 = 27; 5·5·96·256 + 256; 27·27·256 · 2,400
    ("conv2_relu", (27, 27, 256), 0, 0),
    ("norm2", (27, 27, 256), 0, 0),
    ("pool2", (13, 13, 256), 0, 0),                   # (27 − 3)/2 + 1 = 13
    ("conv3", (13, 13, 384), 885_120, 149_520_384),   # 3·3·256·384 + 384; 13·13·384 · 2,304
    ("conv3_relu", (13, 13, 384), 0, 0),
    ("conv4", (13, 13, 384), 1_327_488, 224_280_576), # 3·3·384·384 + 384; 64,896 · 3,456
    ("conv4_relu", (13, 13, 384), 0, 0),
    ("conv5", (13, 13, 256), 884_992, 149_520_384),   # 3·3·384·256 + 256; 43,264 · 3,456
    ("conv5_relu", (13, 13, 256), 0, 0),
    ("pool5", (6, 6, 256), 0, 0),                     # (13 − 3)/2 + 1 = 6
    ("flatten_1", (9216,), 0, 0),                     # 6·6·256
    ("fc6", (4096,), 37_752_832, 37_748_736),         # 9,217·4,096; 9,216·4,096
    ("fc6_relu", (4096,), 0, 0),
    ("drop6", (4096,), 0, 0),
    ("fc7", (4096,), 16_781_312, 16_777_216),         # 4,097·4,096; 4,096·4,096
    ("fc7_relu", (4096,), 0, 0),
    ("drop7", (4096,), 0, 0),
    ("fc8", (1000,), 4_097_000, 4_096_000),           # 4,097·1,000; 4,096·1,000
    ("fc8_softmax", (1000,), 0, 0),
]

# The Keras MNIST CNN, 28×28×1 channels-last
MNIST_CNN = [
    ("conv1", (26, 26, 32), 320, 194_688),            # 28 − 3 + 1; 3·3·1·32 + 32; 26·26·32 · 9
    ("conv1_relu", (26, 26, 32), 0, 0),
    ("pool1", (13, 13, 32), 0, 0),                    # (26 − 2)/2 + 1
    ("conv2", (11, 11, 64), 18_496, 2_230_272),       # 3·3·32·64 + 64; 11·11·64 · 288
    ("conv2_relu", (11, 11, 64), 0, 0),
    ("pool2", (5, 5, 64), 0, 0),                      # (11 − 2)/2 + 1 = 5.5, floored
    ("conv3", (3, 3, 64), 36_928, 331_776),           # 3·3·64·64 + 64; 3·3·64 · 576
    ("conv3_relu", (3, 3, 64), 0, 0),
    ("flatten_1", (576,), 0, 0),                      # 3·3·64
    ("fc1", (64,), 36_928, 36_864),                   # 577·64; 576·64
    ("fc1_relu", (64,), 0, 0),
    ("fc2", (10,), 650, 640),                         # 65·10; 64·10
]


def rows(report):
    return [(r.name, r.output_shape, r.params, r.macs) for r in report.layers]


def test_alexnet_layer_by_layer():
    report = archcalc.analyze("alexnet")
    assert rows(report) == ALEXNET
    assert report.totals.params == 62_378_344
    # 105,415,200 + 447,897,600 + 149,520,384 + 224,280,576 + 149,520,384 + 37,748,736 + 16,777,216 + 4,096,000
    assert report.totals.macs == 1_135_256_096
    assert report.warnings == []                      # 227 divides evenly everywhere (224 would not)


def test_alexnet_at_224_warns():
    report = archcalc.analyze("alexnet", input_shape="224x224x3")
    # (224 − 11)/4 + 1 = 54.25 -> 54
    assert report.layers[0].output_shape == (54, 54, 96)
    assert report.warnings[0]["layer"] == "conv1" and "54.25" in report.warnings[0]["message"]


def test_mnist_cnn_layer_by_layer():
    report = archcalc.analyze("mnist_cnn")
    assert rows(report) == MNIST_CNN
    assert report.totals.params == 93_322
    assert sum(r.params for r in report.layers if r.kind == "conv") == 55_744     # 320 + 18,496 + 36,928
    assert [w["layer"] for w in report.warnings] == ["pool2"]


def resnet_block_params(report, prefix):
    return sum(r.params for r in report.layers if r.name.startswith(prefix + "."))


def test_resnet50_stages():
    report = archcalc.analyze("resnet50")
    shape = {r.name: r.output_shape for r in report.layers}
    assert shape["conv1"] == (64, 112, 112)           # (224 + 6 − 7)/2 + 1 = 112.5 -> 112
    assert shape["maxpool"] == (64, 56, 56)           # (112 + 2 − 3)/2 + 1 = 56.5 -> 56
    assert shape["layer1.2.relu3"] == (256, 56, 56)   # 4·64 channels, no stride in stage 1
    assert shape["layer2.0.conv1"] == (128, 56, 56)   # the stride sits on the 3×3 (v1.5) ...
    assert shape["layer2.0.conv2"] == (128, 28, 28)   # ... (56 + 2 − 3)/2 + 1 = 28.5 -> 28
    assert shape["layer2.3.relu3"] == (512, 28, 28)
    assert shape["layer3.5.relu3"] == (1024, 14, 14)
    assert shape["layer4.2.relu3"] == (2048, 7, 7)
    assert shape["avgpool"] == (2048, 1, 1)
    assert shape["fc"] == (1000,)
    assert report.totals.params == 25_557_032


def test_resnet50_block_params():
    report = archcalc.analyze("resnet50")
    # layer1.0, 64 -> 256 with projection: 1×1 64·64 + 3×3 9·64·64 + 1×1 64·256 + shortcut 64·256
    #   = 4,096 + 36,864 + 16,384 + 16,384 = 73,728 weights, + bn 2·(64 + 64 + 256 + 256) = 1,280 -> 75,008
    assert resnet_block_params(report, "layer1.0") == 75_008
    # layer1.1, 256 -> 256, identity: 256·64 + 9·64·64 + 64·256 = 69,632, + bn 2·(64 + 64 + 256) = 768 -> 70,400
    assert resnet_block_params(report, "layer1.1") == 70_400
    # layer4.0, 1024 -> 2048: 1024·512 + 9·512·512 + 512·2048 + 1024·2048 = 6,029,312, + bn 2·(512+512+2048+2048)
    assert resnet_block_params(report, "layer4.0") == 6_029_312 + 10_240
    # the stem 7·7·3·64 + bn 128 and the head 2,048·1,000 + 1,000
    params = {r.name: r.params for r in report.layers}
    assert (params["conv1"], params["bn1"], params["fc"]) == (9_408, 128, 2_049_000)
    # batchnorm buffers: 2C + 1 each; C sums to 26,560 over the 53 batchnorms (stem + 16·3 + 4 shortcuts):
    # Keras's ResNet50 summary reports 2·26,560 = 53,120 non-trainable parameters
    assert report.totals.buffers == 2 * 26_560 + 53


def test_resnet50_block_macs():
    report = archcalc.analyze("resnet50")
    macs = sum(r.macs for r in report.layers if r.name.startswith("layer1.0."))
    # on 56×56 = 3,136 positions: 3,136·(64·64 + 64·9·64 + 256·64 + 256·64) = 3,136·73,728 = 231,211,008
    assert macs == 231_211_008

"""The design's names with a media segment are accepted; other extra segments are still refused."""

import pytest

from workbench.lake import FeatureLake, check_feature_name, check_function_name


def test_the_designs_media_names_are_accepted(tmp_path):
    assert check_feature_name("/commons/feature/sensor/text/sentiment")["media"] == "text"
    assert check_function_name("/commons/function/interpretation/text/tweet_sentiment")["name"] == "tweet_sentiment"
    assert check_feature_name("/commons/feature/sensor/sentiment")["media"] is None
    assert check_feature_name("/commons/feature/sensor/text")["name"] == "text"  # 'text' alone is a plain name
    lake = FeatureLake.open(tmp_path / "lake")
    spec = lake.register_feature("/commons/feature/sensor/text/sentiment", "float")
    assert spec.entity == "sensor"


@pytest.mark.parametrize("name", ["/commons/feature/sensor/pdf/sentiment", "/commons/feature/sensor/text/a/b"])
def test_other_extra_segments_are_still_refused(name):
    with pytest.raises(ValueError, match="optional text\\|image\\|audio\\|video"):
        check_feature_name(name)

"""The JS-SDK signature (WeChat's documented example) and which page URLs we sign."""

import pytest

from chalicelib.domain import jssdk

TICKET = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"


def test_wechats_documented_example():
    # JS-SDK 说明文档, 附录1 (JS-SDK使用权限签名算法).
    assert jssdk.signature(jsapi_ticket=TICKET, noncestr="Wm3WZYTPz0wzccnW", timestamp=1414587457,
                           url="http://mp.weixin.qq.com?params=value") == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_the_fragment_is_not_signed():
    plain = jssdk.signature(jsapi_ticket=TICKET, noncestr="n", timestamp=1, url="https://h5.example/a.html?x=1")
    with_fragment = jssdk.signature(jsapi_ticket=TICKET, noncestr="n", timestamp=1,
                                    url="https://h5.example/a.html?x=1#top#more")
    assert plain == with_fragment


def test_query_strings_are_signed_as_given():
    a = jssdk.signature(jsapi_ticket=TICKET, noncestr="n", timestamp=1, url="https://h5.example/a.html?q=%E5%BF%83")
    b = jssdk.signature(jsapi_ticket=TICKET, noncestr="n", timestamp=1, url="https://h5.example/a.html?q=心")
    assert a != b


BASE = "https://h5.example.cn"


@pytest.mark.parametrize("url", [f"{BASE}/", f"{BASE}/index.html", f"{BASE}/department.html?id=D0301#doctors"])
def test_pages_under_the_base_are_signed(url):
    assert jssdk.is_page_of(url, BASE)


@pytest.mark.parametrize("url", [
    "",
    BASE,  # a browser's href always has a path
    "https://h5.example.cn.evil.com/",
    "https://h5.example.cn@evil.com/",
    "http://h5.example.cn/index.html",
    "https://evil.com/?https://h5.example.cn/",
    "https://evil.com/#https://h5.example.cn/",
    f"{BASE}/a\nb.html",
    f"{BASE}/a b.html",
    f"{BASE}/" + "a" * 3000,
])
def test_other_urls_are_not(url):
    assert not jssdk.is_page_of(url, BASE)

// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test-only ERC-20 anyone can mint.
contract TestToken is ERC20 {
    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @notice Test-only ERC-20 that burns `feeBps` of every transfer between two holders.
contract FeeOnTransferToken is TestToken {
    uint256 public immutable FEE_BPS;

    constructor(string memory name_, string memory symbol_, uint256 feeBps) TestToken(name_, symbol_) {
        FEE_BPS = feeBps;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * FEE_BPS) / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}

/// @notice Test-only ERC-20 that, once armed, makes one call of the test's choosing from inside
/// a transfer (a token with a hook, or a malicious one) and bubbles up its revert.
contract ReentrantToken is TestToken {
    address public target;
    bytes public payload;
    bool public armed;

    constructor(string memory name_, string memory symbol_) TestToken(name_, symbol_) {}

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
        armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (armed && from != address(0) && to != address(0)) {
            armed = false;
            (bool ok, bytes memory ret) = target.call(payload);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }
}

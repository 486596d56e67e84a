"""SQLAlchemy 2.0 models of the shop's tables, as Django's ``migrate`` creates them.

``catalog_*`` and ``orders_*`` are mapped in full, and so are the tables of the two
third-party apps the shop installs: django-taggit's ``taggit_tag`` and ``taggit_taggeditem``
and Django REST framework's ``authtoken_token``; ``auth_user`` only by the three columns the
service reads (``[tool.dualorm.ownership] "auth_user" = "partial:sqlalchemy"``). Foreign keys
are ``DEFERRABLE INITIALLY DEFERRED`` because Django creates every foreign key that way.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


def _fk(target: str) -> ForeignKey:
    return ForeignKey(target, deferrable=True, initially="DEFERRED")


class User(Base):
    """Django's ``auth_user``, three of its columns."""

    __tablename__ = "auth_user"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str] = mapped_column(String(254))


class Category(Base):
    __tablename__ = "catalog_category"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Tag(Base):
    __tablename__ = "catalog_tag"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


product_tags = Table(
    "catalog_product_tags",
    Base.metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("product_id", BigInteger, _fk("catalog_product.id"), nullable=False, index=True),
    Column("tag_id", BigInteger, _fk("catalog_tag.id"), nullable=False, index=True),
    UniqueConstraint("product_id", "tag_id"),
)


class Product(Base):
    __tablename__ = "catalog_product"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    category_id: Mapped[int] = mapped_column(BigInteger, _fk("catalog_category.id"), index=True)
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    category: Mapped[Category] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=product_tags)


class Order(Base):
    __tablename__ = "orders_order"
    __table_args__ = (Index("orders_order_placed_at_idx", "placed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, _fk("auth_user.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order")


class OrderLine(Base):
    __tablename__ = "orders_orderline"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id", name="orders_orderline_order_product_uniq"),
        CheckConstraint("quantity >= 0", name="orders_orderline_quantity_check"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger, _fk("orders_order.id"), index=True)
    product_id: Mapped[int] = mapped_column(BigInteger, _fk("catalog_product.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class ContentType(Base):
    """Django's ``django_content_type``, the two columns a tagged item's type is read by."""

    __tablename__ = "django_content_type"
    __table_args__ = (UniqueConstraint("app_label", "model"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    app_label: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))


class TaggitTag(Base):
    """django-taggit's tags."""

    __tablename__ = "taggit_tag"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)


class TaggitTaggedItem(Base):
    """django-taggit's generic tagging: any object (content type and id) gets a tag."""

    __tablename__ = "taggit_taggeditem"
    __table_args__ = (
        UniqueConstraint("content_type_id", "object_id", "tag_id"),
        Index("taggit_tagg_content_8fc721_idx", "content_type_id", "object_id"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    object_id: Mapped[int] = mapped_column(Integer, index=True)
    content_type_id: Mapped[int] = mapped_column(Integer, _fk("django_content_type.id"), index=True)
    tag_id: Mapped[int] = mapped_column(Integer, _fk("taggit_tag.id"), index=True)

    tag: Mapped[TaggitTag] = relationship()


class AuthToken(Base):
    """Django REST framework's API tokens, one per user."""

    __tablename__ = "authtoken_token"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int] = mapped_column(Integer, _fk("auth_user.id"), unique=True)

    user: Mapped[User] = relationship()
